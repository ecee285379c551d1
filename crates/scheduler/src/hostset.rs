//! A set of hosts (by rank in name order) as a bitset: placement rules are intersections.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostSet {
    words: Vec<u64>,
}

impl HostSet {
    pub fn empty(hosts: usize) -> Self {
        HostSet {
            words: vec![0; hosts.div_ceil(64)],
        }
    }

    pub fn full(hosts: usize) -> Self {
        let mut set = HostSet::empty(hosts);
        for h in 0..hosts {
            set.insert(h as u32);
        }
        set
    }

    pub fn insert(&mut self, host: u32) {
        self.words[host as usize / 64] |= 1 << (host % 64);
    }

    pub fn contains(&self, host: u32) -> bool {
        self.words[host as usize / 64] & (1 << (host % 64)) != 0
    }

    pub fn intersect(&mut self, other: &HostSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    pub fn len(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Members in ascending order, i.e. by host name.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(i as u32 * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut a = HostSet::empty(130);
        for h in [0, 63, 64, 129] {
            a.insert(h);
        }
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 63, 64, 129]);
        assert_eq!(a.len(), 4);
        let mut b = HostSet::full(130);
        assert_eq!(b.len(), 130);
        b.intersect(&a);
        assert_eq!(b, a);
        assert!(b.contains(129) && !b.contains(1));
        b.intersect(&HostSet::empty(130));
        assert!(b.is_empty());
    }
}
