//! Property tests of `moat::cidr` against a naive reference: a block as an inclusive range of
//! 32-bit addresses, computed by counting instead of by prefix arithmetic.

use ipnet::Ipv4Net;
use moat::cidr;
use proptest::prelude::*;
use std::net::Ipv4Addr;

/// The reference: [first, last] computed from the address and prefix by counting.
fn range(n: &Ipv4Net) -> (u64, u64) {
    let size = 2u64.pow(32 - u32::from(n.prefix_len()));
    let first = (u64::from(u32::from(n.addr())) / size) * size;
    (first, first + size - 1)
}

fn ref_contains(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    let ((a0, a1), (b0, b1)) = (range(a), range(b));
    a0 <= b0 && b1 <= a1
}

fn ref_overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    let ((a0, a1), (b0, b1)) = (range(a), range(b));
    a0 <= b1 && b0 <= a1
}

fn ref_usable(n: &Ipv4Net) -> u64 {
    let (a0, a1) = range(n);
    (a1 - a0 + 1).saturating_sub(5)
}

fn net() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a), p).unwrap().trunc())
}

/// Pairs that are often related (same high bits), so containment and overlap both occur.
fn related_pair() -> impl Strategy<Value = (Ipv4Net, Ipv4Net)> {
    (any::<u32>(), 0u8..=32, any::<u32>(), 0u8..=32, 0u32..=32).prop_map(|(a, pa, b, pb, shared)| {
        let mask = if shared == 0 { 0 } else { u32::MAX << (32 - shared) };
        let b = (a & mask) | (b & !mask);
        (Ipv4Net::new(Ipv4Addr::from(a), pa).unwrap().trunc(), Ipv4Net::new(Ipv4Addr::from(b), pb).unwrap().trunc())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn containment_matches_the_reference((a, b) in related_pair()) {
        prop_assert_eq!(cidr::contains(&a, &b), ref_contains(&a, &b), "{} ⊇ {}", a, b);
    }

    #[test]
    fn overlap_matches_the_reference((a, b) in related_pair()) {
        prop_assert_eq!(cidr::overlaps(&a, &b), ref_overlaps(&a, &b), "{} ∩ {}", a, b);
        prop_assert_eq!(cidr::overlaps(&a, &b), cidr::overlaps(&b, &a));
    }

    #[test]
    fn capacity_matches_the_reference(n in net()) {
        prop_assert_eq!(cidr::usable(&n), ref_usable(&n));
        let (f, l) = range(&n);
        prop_assert_eq!(u64::from(cidr::first(&n)), f);
        prop_assert_eq!(u64::from(cidr::last(&n)), l);
        prop_assert_eq!(cidr::size(&n), l - f + 1);
        prop_assert_eq!(cidr::is_valid_subnet_size(&n), l - f + 1 >= 8);
    }

    #[test]
    fn contains_ip_matches_the_reference(n in net(), ip in any::<u32>()) {
        let (f, l) = range(&n);
        prop_assert_eq!(cidr::contains_ip(&n, Ipv4Addr::from(ip)), f <= u64::from(ip) && u64::from(ip) <= l);
    }

    #[test]
    fn smallest_prefix_holds_the_nodes_and_the_next_smaller_does_not(nodes in 0u64..5_000_000) {
        let p = cidr::smallest_prefix_for(nodes).unwrap();
        prop_assert!(p <= 29);
        prop_assert!(cidr::usable_for_prefix(p) >= nodes);
        if p < 29 {
            prop_assert!(cidr::usable_for_prefix(p + 1) < nodes);
        }
    }

    #[test]
    fn canonical_parse_round_trips(n in net()) {
        prop_assert_eq!(cidr::parse_canonical(&n.to_string()), Ok(n));
    }

    #[test]
    fn host_bits_are_rejected(a in any::<u32>(), p in 0u8..32) {
        let raw = Ipv4Net::new(Ipv4Addr::from(a), p).unwrap();
        let s = raw.to_string();
        prop_assert_eq!(cidr::parse_canonical(&s).is_ok(), raw.trunc() == raw);
    }
}
