//! Three-valued logic (Kleene) for the parts of a statement that can be undecidable:
//! an unresolvable variable in a negated position, or a claim that cannot be read as the
//! operator's type. `Unknown` never lets an Allow apply and never stops a Deny.

/// Ordered `False < Unknown < True`, so AND is `min` and OR is `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tri {
    False,
    Unknown,
    True,
}

impl Tri {
    pub(crate) fn and(self, other: Tri) -> Tri {
        self.min(other)
    }

    pub(crate) fn or(self, other: Tri) -> Tri {
        self.max(other)
    }

    pub(crate) fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
            Tri::True => Tri::False,
        }
    }
}

impl From<bool> for Tri {
    fn from(value: bool) -> Tri {
        if value { Tri::True } else { Tri::False }
    }
}

#[cfg(test)]
mod tests {
    use super::Tri::{self, False, True, Unknown};

    #[test]
    fn kleene_truth_tables() {
        let all = [False, Unknown, True];
        for a in all {
            assert_eq!(a.not().not(), a);
            for b in all {
                // De Morgan holds in Kleene logic; it pins down and/or/not together.
                assert_eq!(a.and(b).not(), a.not().or(b.not()), "{a:?} {b:?}");
                assert_eq!(a.and(b), b.and(a));
                assert_eq!(a.or(b), b.or(a));
            }
        }
        assert_eq!(Unknown.and(False), False);
        assert_eq!(Unknown.or(True), True);
        assert_eq!(Unknown.and(True), Unknown);
        assert_eq!(Tri::from(true), True);
    }
}
