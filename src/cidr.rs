//! Pure IPv4 CIDR arithmetic for Azure address planning, on `ipnet::Ipv4Net`.
//!
//! Azure keeps five addresses of every subnet (the network address, the next three for the
//! gateway and Azure DNS, and the broadcast address), so a subnet of prefix length `p` has
//! `2^(32-p) - 5` addresses for NICs. The smallest IPv4 subnet Azure accepts is a /29
//! (8 addresses, 3 usable).
//!
//! Every function here is total: no panics for any prefix length from /0 to /32.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Addresses Azure reserves in every subnet: the first four and the last one.
pub const AZURE_RESERVED: u64 = 5;

/// The longest prefix (smallest subnet) Azure accepts for a subnet.
pub const MAX_SUBNET_PREFIX_LEN: u8 = 29;

/// The Docker bridge's default range, `172.17.0.0/16`.
pub const DOCKER_BRIDGE_DEFAULT: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(172, 17, 0, 0), 16);

/// Why a string is not a canonical IPv4 CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not of the form `a.b.c.d/len` with `len` in 0..=32.
    #[error("{0:?} is not an IPv4 CIDR (expected address/prefix-length such as 10.0.0.0/16)")]
    Syntax(String),
    /// Host bits are set: `10.0.0.1/16` instead of `10.0.0.0/16`.
    #[error("{given} has host bits set; the canonical form is {canonical}")]
    HostBits { given: String, canonical: Ipv4Net },
}

/// Parses `a.b.c.d/len`, accepting host bits (the result keeps them; see [`parse_canonical`]).
pub fn parse(s: &str) -> Result<Ipv4Net, CidrError> {
    let t = s.trim();
    // ipnet accepts a bare address with no prefix only through other types; insist on the slash.
    if !t.contains('/') {
        return Err(CidrError::Syntax(s.to_string()));
    }
    t.parse::<Ipv4Net>().map_err(|_| CidrError::Syntax(s.to_string()))
}

/// Parses a CIDR and insists that no host bits are set (what the CRDs' CEL rule checks).
pub fn parse_canonical(s: &str) -> Result<Ipv4Net, CidrError> {
    let net = parse(s)?;
    let canonical = net.trunc();
    if canonical != net {
        return Err(CidrError::HostBits { given: s.to_string(), canonical });
    }
    Ok(net)
}

/// Parses either a CIDR or a bare IPv4 address (as a /32).
pub fn parse_cidr_or_ip(s: &str) -> Option<Ipv4Net> {
    let t = s.trim();
    if t.contains('/') {
        parse(t).ok().map(|n| n.trunc())
    } else {
        t.parse::<Ipv4Addr>().ok().map(|ip| Ipv4Net::new_assert(ip, 32))
    }
}

/// First address of the block, as a number.
pub fn first(net: &Ipv4Net) -> u32 {
    u32::from(net.network())
}

/// Last address of the block, as a number.
pub fn last(net: &Ipv4Net) -> u32 {
    u32::from(net.broadcast())
}

/// Number of addresses in the block: `2^(32 - prefix)`.
pub fn size(net: &Ipv4Net) -> u64 {
    1u64 << (32 - u32::from(net.prefix_len()))
}

/// Addresses left for NICs once Azure has taken its five: `size - 5`, or 0 for blocks smaller than /29.
pub fn usable(net: &Ipv4Net) -> u64 {
    size(net).saturating_sub(AZURE_RESERVED)
}

/// Whether Azure accepts the block as a subnet (prefix length at most /29).
pub fn is_valid_subnet_size(net: &Ipv4Net) -> bool {
    net.prefix_len() <= MAX_SUBNET_PREFIX_LEN
}

/// Whether `outer` contains every address of `inner` (a block contains itself).
pub fn contains(outer: &Ipv4Net, inner: &Ipv4Net) -> bool {
    outer.trunc().contains(&inner.trunc())
}

/// Whether `net` contains the address.
pub fn contains_ip(net: &Ipv4Net, ip: Ipv4Addr) -> bool {
    net.trunc().contains(&ip)
}

/// Whether the two blocks share at least one address. Two CIDR blocks either nest or are
/// disjoint, so they overlap exactly when one contains the other's network address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    let (a, b) = (a.trunc(), b.trunc());
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Whether `net` lies entirely inside at least one of `spaces`.
pub fn inside_any(net: &Ipv4Net, spaces: &[Ipv4Net]) -> bool {
    spaces.iter().any(|s| contains(s, net))
}

/// The first of `others` that overlaps `net`, if any.
pub fn first_overlap<'a>(net: &Ipv4Net, others: impl IntoIterator<Item = &'a Ipv4Net>) -> Option<&'a Ipv4Net> {
    others.into_iter().find(|o| overlaps(net, o))
}

/// The longest prefix length (smallest subnet) whose usable addresses hold `nodes`, or `None`
/// when even a /0 cannot. Never longer than /29, Azure's smallest subnet.
pub fn smallest_prefix_for(nodes: u64) -> Option<u8> {
    (0..=MAX_SUBNET_PREFIX_LEN).rev().find(|&p| (1u64 << (32 - u32::from(p))).saturating_sub(AZURE_RESERVED) >= nodes)
}

/// Usable addresses of a subnet of the given prefix length.
pub fn usable_for_prefix(prefix_len: u8) -> u64 {
    if prefix_len > 32 {
        return 0;
    }
    (1u64 << (32 - u32::from(prefix_len))).saturating_sub(AZURE_RESERVED)
}

/// The private (RFC 1918) ranges.
pub const PRIVATE_RANGES: [Ipv4Net; 3] = [
    Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8),
    Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12),
    Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// Whether the block lies entirely in RFC 1918 private space.
pub fn is_private(net: &Ipv4Net) -> bool {
    inside_any(net, &PRIVATE_RANGES)
}

/// Blocks that are not public internet space: RFC 1918, shared address space (RFC 6598), this
/// network, loopback, link-local, multicast and reserved.
pub const NON_PUBLIC_RANGES: [Ipv4Net; 9] = [
    Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8),
    Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8),
    Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10),
    Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16),
    Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12),
    Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16),
    Ipv4Net::new_assert(Ipv4Addr::new(224, 0, 0, 0), 4),
    Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// How many public internet addresses the block holds (its size minus its overlap with
/// [`NON_PUBLIC_RANGES`], which do not overlap one another).
pub fn public_addresses(net: &Ipv4Net) -> u64 {
    let overlap: u64 = NON_PUBLIC_RANGES
        .iter()
        .map(|r| {
            if contains(r, net) {
                size(net)
            } else if contains(net, r) {
                size(r)
            } else {
                0
            }
        })
        .sum();
    size(net).saturating_sub(overlap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn usable_addresses_subtract_the_five_azure_reserves() {
        assert_eq!(usable(&n("10.0.0.0/28")), 11);
        assert_eq!(usable(&n("10.0.0.0/29")), 3);
        assert_eq!(usable(&n("10.0.0.0/24")), 251);
        assert_eq!(usable(&n("10.0.0.0/30")), 0);
        assert_eq!(usable(&n("0.0.0.0/0")), (1u64 << 32) - 5);
        assert_eq!(size(&n("10.0.0.1/32")), 1);
    }

    #[test]
    fn canonical_form_is_enforced() {
        assert!(parse_canonical("10.0.0.0/16").is_ok());
        assert_eq!(
            parse_canonical("10.0.0.1/16"),
            Err(CidrError::HostBits { given: "10.0.0.1/16".into(), canonical: n("10.0.0.0/16") })
        );
        assert!(matches!(parse_canonical("10.0.0.0"), Err(CidrError::Syntax(_))));
        assert!(matches!(parse_canonical("10.0.0.0/33"), Err(CidrError::Syntax(_))));
        assert!(matches!(parse_canonical("fd00::/8"), Err(CidrError::Syntax(_))));
    }

    #[test]
    fn smallest_prefix_for_node_counts() {
        assert_eq!(smallest_prefix_for(0), Some(29));
        assert_eq!(smallest_prefix_for(3), Some(29));
        assert_eq!(smallest_prefix_for(4), Some(28));
        assert_eq!(smallest_prefix_for(20), Some(27));
        assert_eq!(smallest_prefix_for(59), Some(26));
        assert_eq!(smallest_prefix_for(60), Some(25));
        assert_eq!(smallest_prefix_for(u64::MAX), None);
    }

    #[test]
    fn overlap_and_containment() {
        assert!(overlaps(&n("10.0.0.0/16"), &n("10.0.4.0/24")));
        assert!(!overlaps(&n("10.0.0.0/24"), &n("10.0.1.0/24")));
        assert!(contains(&n("10.0.0.0/16"), &n("10.0.4.0/24")));
        assert!(!contains(&n("10.0.4.0/24"), &n("10.0.0.0/16")));
        assert!(overlaps(&DOCKER_BRIDGE_DEFAULT, &n("172.16.0.0/12")));
        assert!(is_private(&n("172.20.0.0/16")));
        assert!(!is_private(&n("0.0.0.0/0")));
    }

    #[test]
    fn public_address_counts() {
        assert_eq!(public_addresses(&n("10.0.0.0/8")), 0);
        assert_eq!(public_addresses(&n("8.8.8.0/24")), 256);
        assert_eq!(public_addresses(&n("20.0.0.0/8")), 1 << 24);
        // 0.0.0.0/0 minus the non-public blocks.
        let non_public: u64 = NON_PUBLIC_RANGES.iter().map(size).sum();
        assert_eq!(public_addresses(&n("0.0.0.0/0")), (1u64 << 32) - non_public);
        assert_eq!(public_addresses(&n("172.0.0.0/8")), (1 << 24) - (1 << 20));
    }
}
