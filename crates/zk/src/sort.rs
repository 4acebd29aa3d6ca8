//! Sorting node names, which views and walks hand out in order.
//!
//! The server lists a node's children in the order of its hash set. Sorting them with `str`
//! comparisons follows two pointers into the heap for every comparison, and sibling names
//! share long prefixes (`127.0.0.1:20001`, `127.0.0.1:20002`…), so each comparison reads
//! both heaps far in. Here every name's first 16 bytes are read once, as one big-endian
//! number padded with zeros, and the numbers are sorted; only names with equal keys are
//! compared themselves. From 64 names on, the keys are sorted by radix, one pass for
//! each byte position at which they differ.

/// The first 16 bytes of `name`, big-endian, padded with zeros.
///
/// Lexicographic order never puts a name before one with a smaller key: truncating keeps
/// the order of the bytes kept, and the padding (zeros) is no greater than any byte it
/// stands beside. So keys first, then the names on equal keys, is the names' own order.
fn key(name: &str) -> u128 {
    let bytes = name.as_bytes();
    let mut key = [0u8; 16];
    let n = bytes.len().min(16);
    key[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(key)
}

/// Below this many names, comparisons cost less than the radix passes' counting.
const RADIX_MIN: usize = 64;

/// Sorts `names` in byte order, as `names.sort_unstable()` does.
pub(crate) fn sort_names(names: &mut Vec<String>) {
    if names.len() < RADIX_MIN || u32::try_from(names.len()).is_err() {
        names.sort_unstable();
        return;
    }
    // Keys and indices (32 bytes each) move while sorting; the names move once, at the end.
    let mut keyed: Vec<(u128, u32)> = names
        .iter()
        .zip(0u32..)
        .map(|(name, i)| (key(name), i))
        .collect();
    radix_sort(&mut keyed);
    // Names that share their first 16 bytes (rare) are still in index order.
    let mut start = 0;
    while start < keyed.len() {
        let k = keyed[start].0;
        let run = keyed[start..].iter().take_while(|e| e.0 == k).count();
        if run > 1 {
            keyed[start..start + run]
                .sort_unstable_by(|a, b| names[a.1 as usize].cmp(&names[b.1 as usize]));
        }
        start += run;
    }
    let mut unsorted = std::mem::take(names);
    names.extend(
        keyed
            .iter()
            .map(|&(_, i)| std::mem::take(&mut unsorted[i as usize])),
    );
}

/// A stable least-significant-digit radix sort by key, one pass per byte, skipping the bytes
/// every key has alike: siblings' shared prefix and common length leave few passes (three
/// for 1,000 ports of one host).
fn radix_sort(keyed: &mut Vec<(u128, u32)>) {
    let (all, any) = keyed
        .iter()
        .fold((u128::MAX, 0u128), |(all, any), e| (all & e.0, any | e.0));
    let varying = all ^ any;
    let mut out = vec![(0u128, 0u32); keyed.len()];
    for shift in (0..128).step_by(8) {
        if (varying >> shift) & 0xff == 0 {
            continue;
        }
        let digit = |k: u128| ((k >> shift) & 0xff) as usize;
        let mut offsets = [0usize; 256];
        for e in keyed.iter() {
            offsets[digit(e.0)] += 1;
        }
        let mut total = 0;
        for slot in &mut offsets {
            let count = *slot;
            *slot = total;
            total += count;
        }
        for e in keyed.iter() {
            let d = digit(e.0);
            out[offsets[d]] = *e;
            offsets[d] += 1;
        }
        std::mem::swap(keyed, &mut out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(names: &[&str]) {
        let mut expected: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut got = expected.clone();
        expected.sort_unstable();
        sort_names(&mut got);
        assert_eq!(got, expected);
    }

    #[test]
    fn names_sort_in_byte_order() {
        check(&["b", "a", "c"]);
        check(&[]);
        check(&["only"]);
    }

    #[test]
    fn a_prefix_sorts_before_the_names_it_starts() {
        check(&["ab", "a", "abc", "", "a\0", "a\0\0", "a\u{1}"]);
    }

    #[test]
    fn names_equal_in_their_first_16_bytes_sort_by_the_rest() {
        check(&[
            "0123456789abcdefZ",
            "0123456789abcdef",
            "0123456789abcdefA",
            "0123456789abcdeg",
            "0123456789abcdefA",
        ]);
    }

    #[test]
    fn multibyte_characters_sort_by_their_bytes() {
        check(&["é", "e", "z", "日本", "ÿ", "\u{10ffff}"]);
    }

    #[test]
    fn many_addresses_of_one_host_sort_in_order() {
        let names: Vec<String> = (0..1000)
            .rev()
            .map(|i| format!("127.0.0.1:{}", 20000 + (i * 7919) % 1000))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        check(&refs);
    }

    #[test]
    fn many_names_equal_in_their_first_16_bytes_sort_by_the_rest() {
        let names: Vec<String> = (0..200)
            .map(|i| match i % 3 {
                0 => format!("service-instance-{}", (i * 37) % 101),
                1 => format!("service-instance-{}-b", (i * 13) % 7),
                _ => format!("service-{i}"),
            })
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        check(&refs);
    }

    #[test]
    fn many_generated_names_sort_as_sort_unstable_does() {
        // A small linear congruential generator: names of 0–40 bytes from a small alphabet
        // (NUL and high bytes included), so that prefixes and equal keys are common.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as u32
        };
        let alphabet = ['\0', 'a', 'b', '1', ':', '.', 'é', '\u{7f}'];
        for _ in 0..50 {
            let count = next() as usize % 600;
            let names: Vec<String> = (0..count)
                .map(|_| {
                    let len = next() as usize % 41;
                    (0..len)
                        .map(|_| alphabet[next() as usize % alphabet.len()])
                        .collect()
                })
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            check(&refs);
        }
    }
}
