//! The session's queues of requests (waiting, in flight), each with a count of the requests in
//! it that register a watch.
//!
//! Removing a watcher asks whether a request on its way would register a watch on the same
//! path (`watch_modes`). That question used to scan both queues: removing the watches of many
//! nodes at once (each removal queues a removeWatches) took time in the square of their
//! number. With the count, a queue holding no watch-registering request answers at once.

use std::collections::VecDeque;

use super::WatchRegistration;

/// A request that may register a watch when it succeeds.
pub(super) trait RegistersWatch {
    /// The watch it registers, if any. Must not change while the request is queued.
    fn registered_watch(&self) -> Option<&WatchRegistration>;
}

/// A queue of requests in order, counting those that register a watch.
#[derive(Debug)]
pub(super) struct Requests<T> {
    items: VecDeque<T>,
    watching: usize,
}

impl<T> Default for Requests<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
            watching: 0,
        }
    }
}

impl<T: RegistersWatch> Requests<T> {
    fn counted(item: &T) -> usize {
        usize::from(item.registered_watch().is_some())
    }

    /// Adds `item` at the back.
    pub(super) fn push_back(&mut self, item: T) {
        self.watching += Self::counted(&item);
        self.items.push_back(item);
    }

    /// Adds `item` at the front.
    pub(super) fn push_front(&mut self, item: T) {
        self.watching += Self::counted(&item);
        self.items.push_front(item);
    }

    /// Takes the item at the front.
    pub(super) fn pop_front(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.watching -= Self::counted(&item);
        Some(item)
    }

    /// Whether an item registers a watch that `f` selects.
    pub(super) fn any_watch(&self, f: impl Fn(&T, &WatchRegistration) -> bool) -> bool {
        debug_assert_eq!(
            self.watching,
            self.items.iter().map(Self::counted).sum::<usize>(),
            "the count of watch-registering requests drifted"
        );
        self.watching > 0
            && self
                .items
                .iter()
                .any(|item| item.registered_watch().is_some_and(|w| f(item, w)))
    }

    /// The items, mutably, for what does not change their watch (their deadlines).
    pub(super) fn iter_mut(&mut self) -> std::collections::vec_deque::IterMut<'_, T> {
        self.items.iter_mut()
    }
}

impl<T> std::ops::Deref for Requests<T> {
    type Target = VecDeque<T>;

    fn deref(&self) -> &VecDeque<T> {
        &self.items
    }
}

impl<T> IntoIterator for Requests<T> {
    type Item = T;
    type IntoIter = std::collections::vec_deque::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watches::{EventFilter, WatchKind};

    struct R(Option<WatchRegistration>);

    impl RegistersWatch for R {
        fn registered_watch(&self) -> Option<&WatchRegistration> {
            self.0.as_ref()
        }
    }

    fn watching(path: &str) -> R {
        R(Some(WatchRegistration {
            path: path.into(),
            kind: WatchKind::Data,
            id: 1,
            events: EventFilter::ALL,
        }))
    }

    #[test]
    fn the_count_follows_pushes_and_pops_at_either_end() {
        let mut q = Requests::default();
        q.push_back(R(None));
        q.push_back(watching("/a"));
        q.push_front(watching("/b"));
        assert_eq!(q.watching, 2);
        assert!(q.any_watch(|_, w| &*w.path == "/a"));
        assert!(!q.any_watch(|_, w| &*w.path == "/c"));
        q.pop_front();
        q.pop_front();
        assert_eq!(q.watching, 1);
        q.pop_front();
        assert_eq!(q.watching, 0);
        assert!(!q.any_watch(|_, _| true));
        assert!(q.pop_front().is_none());
    }

    #[test]
    fn a_queue_taken_whole_starts_again_from_zero() {
        let mut q = Requests::default();
        q.push_back(watching("/a"));
        let taken = std::mem::take(&mut q);
        assert_eq!(taken.into_iter().count(), 1);
        assert_eq!(q.watching, 0);
        assert!(q.is_empty());
    }
}
