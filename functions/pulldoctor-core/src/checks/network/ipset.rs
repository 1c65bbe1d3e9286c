//! IPv4 address sets and (address × port) boxes: enough arithmetic to evaluate security group
//! rules (allow-only, unordered) and network ACLs (ordered, first match wins, implicit deny) against
//! the exact destinations of a pull.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// An inclusive range of IPv4 addresses as integers.
pub type Range = (u32, u32);

/// A set of IPv4 addresses as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpSet(Vec<Range>);

impl IpSet {
    pub fn empty() -> IpSet {
        IpSet(vec![])
    }
    pub fn all() -> IpSet {
        IpSet(vec![(0, u32::MAX)])
    }
    pub fn from_ranges(ranges: impl IntoIterator<Item = Range>) -> IpSet {
        let mut v: Vec<Range> = ranges.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort();
        let mut out: Vec<Range> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        IpSet(out)
    }
    pub fn from_nets(nets: impl IntoIterator<Item = Ipv4Net>) -> IpSet {
        IpSet::from_ranges(nets.into_iter().map(net_range))
    }
    /// Parse CIDR strings; unparsable ones (IPv6, garbage) are skipped.
    pub fn from_cidrs<'a>(cidrs: impl IntoIterator<Item = &'a str>) -> IpSet {
        IpSet::from_nets(cidrs.into_iter().filter_map(parse_net))
    }
    pub fn from_ips(ips: impl IntoIterator<Item = Ipv4Addr>) -> IpSet {
        IpSet::from_ranges(ips.into_iter().map(|ip| (u32::from(ip), u32::from(ip))))
    }
    /// Every address that can be on the public internet: all of IPv4 minus private, shared,
    /// loopback, link-local, multicast and reserved space. Used for "somewhere on the internet"
    /// destinations, whose exact addresses are not known.
    pub fn public_internet() -> IpSet {
        let special = [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "224.0.0.0/3",
        ];
        IpSet::all().minus(&IpSet::from_cidrs(special))
    }
    pub fn ranges(&self) -> &[Range] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn union(&self, other: &IpSet) -> IpSet {
        IpSet::from_ranges(self.0.iter().chain(other.0.iter()).copied())
    }
    pub fn minus(&self, other: &IpSet) -> IpSet {
        let mut out = vec![];
        for &(lo, hi) in &self.0 {
            let mut pieces = vec![(lo, hi)];
            for &(olo, ohi) in &other.0 {
                pieces = pieces
                    .into_iter()
                    .flat_map(|p| subtract(p, (olo, ohi)))
                    .collect();
            }
            out.extend(pieces);
        }
        IpSet::from_ranges(out)
    }
    pub fn intersect(&self, other: &IpSet) -> IpSet {
        let mut out = vec![];
        for &a in &self.0 {
            for &b in &other.0 {
                if let Some(r) = overlap(a, b) {
                    out.push(r);
                }
            }
        }
        IpSet::from_ranges(out)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let x = u32::from(ip);
        self.0.iter().any(|&(lo, hi)| lo <= x && x <= hi)
    }
    /// `other` ⊆ `self`.
    pub fn covers(&self, other: &IpSet) -> bool {
        other.minus(self).is_empty()
    }
    /// The set as CIDR strings (minimal cover), for evidence.
    pub fn to_cidrs(&self) -> Vec<String> {
        let mut out = vec![];
        for &(lo, hi) in &self.0 {
            let mut start = lo as u64;
            let end = hi as u64;
            while start <= end {
                let max_size = if start == 0 {
                    32
                } else {
                    start.trailing_zeros().min(32)
                };
                let mut size = max_size;
                while size > 0 && start + (1u64 << size) - 1 > end {
                    size -= 1;
                }
                out.push(format!("{}/{}", Ipv4Addr::from(start as u32), 32 - size));
                start += 1u64 << size;
            }
        }
        out
    }
}

pub fn parse_net(cidr: &str) -> Option<Ipv4Net> {
    let cidr = cidr.trim();
    cidr.parse::<Ipv4Net>()
        .ok()
        .or_else(|| {
            cidr.parse::<Ipv4Addr>()
                .ok()
                .map(|ip| Ipv4Net::new(ip, 32).expect("/32"))
        })
        .map(|n| n.trunc())
}

pub fn net_range(net: Ipv4Net) -> Range {
    (u32::from(net.network()), u32::from(net.broadcast()))
}

fn overlap(a: Range, b: Range) -> Option<Range> {
    let lo = a.0.max(b.0);
    let hi = a.1.min(b.1);
    (lo <= hi).then_some((lo, hi))
}

fn subtract(a: Range, b: Range) -> Vec<Range> {
    match overlap(a, b) {
        None => vec![a],
        Some((lo, hi)) => {
            let mut out = vec![];
            if a.0 < lo {
                out.push((a.0, lo - 1));
            }
            if hi < a.1 {
                out.push((hi + 1, a.1));
            }
            out
        }
    }
}

/// A box of traffic: addresses × ports (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficBox {
    pub ips: Range,
    pub ports: (u16, u16),
}

impl TrafficBox {
    fn intersect(&self, other: &TrafficBox) -> Option<TrafficBox> {
        let ips = overlap(self.ips, other.ips)?;
        let lo = self.ports.0.max(other.ports.0);
        let hi = self.ports.1.min(other.ports.1);
        (lo <= hi).then_some(TrafficBox {
            ips,
            ports: (lo, hi),
        })
    }
    /// `self` minus `other`, as disjoint boxes.
    fn minus(&self, other: &TrafficBox) -> Vec<TrafficBox> {
        let Some(cut) = self.intersect(other) else {
            return vec![*self];
        };
        let mut out = vec![];
        // Addresses outside the cut, all ports.
        for ips in subtract(self.ips, cut.ips) {
            out.push(TrafficBox {
                ips,
                ports: self.ports,
            });
        }
        // Addresses inside the cut, ports outside it.
        if self.ports.0 < cut.ports.0 {
            out.push(TrafficBox {
                ips: cut.ips,
                ports: (self.ports.0, cut.ports.0 - 1),
            });
        }
        if cut.ports.1 < self.ports.1 {
            out.push(TrafficBox {
                ips: cut.ips,
                ports: (cut.ports.1 + 1, self.ports.1),
            });
        }
        out
    }
}

/// One network ACL rule in evaluable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    pub number: i32,
    pub allow: bool,
    /// Matches TCP (protocol `-1` or `6`).
    pub matches_tcp: bool,
    pub ips: Range,
    pub ports: (u16, u16),
}

/// The verdict of an ordered ACL on a set of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclVerdict {
    pub allowed: Vec<(TrafficBox, i32)>,
    /// Denied boxes with the deciding rule number (`None` = the implicit final deny, `*`).
    pub denied: Vec<(TrafficBox, Option<i32>)>,
}

impl AclVerdict {
    pub fn fully_allowed(&self) -> bool {
        self.denied.is_empty()
    }
    pub fn fully_denied(&self) -> bool {
        self.allowed.is_empty()
    }
    /// Denied addresses whose denied ports overlap `ports`.
    pub fn denied_in_ports(&self, ports: (u16, u16)) -> Vec<(TrafficBox, Option<i32>)> {
        let window = TrafficBox {
            ips: (0, u32::MAX),
            ports,
        };
        self.denied
            .iter()
            .filter_map(|(b, rule)| b.intersect(&window).map(|b| (b, *rule)))
            .collect()
    }
}

/// Evaluate TCP traffic to/from `ips` on `ports` against ACL rules in rule-number order: the first
/// rule that matches a packet decides; what no rule matches is denied.
pub fn evaluate_acl(rules: &[AclRule], ips: &IpSet, ports: (u16, u16)) -> AclVerdict {
    let mut rules: Vec<&AclRule> = rules.iter().filter(|r| r.matches_tcp).collect();
    rules.sort_by_key(|r| r.number);
    let mut open: Vec<TrafficBox> = ips
        .ranges()
        .iter()
        .map(|&ips| TrafficBox { ips, ports })
        .collect();
    let mut verdict = AclVerdict::default();
    for rule in rules {
        let rbox = TrafficBox {
            ips: rule.ips,
            ports: rule.ports,
        };
        let mut next = vec![];
        for b in open {
            if let Some(hit) = b.intersect(&rbox) {
                if rule.allow {
                    verdict.allowed.push((hit, rule.number));
                } else {
                    verdict.denied.push((hit, Some(rule.number)));
                }
                next.extend(b.minus(&rbox));
            } else {
                next.push(b);
            }
        }
        open = next;
        if open.is_empty() {
            break;
        }
    }
    verdict.denied.extend(open.into_iter().map(|b| (b, None)));
    verdict
}

/// `a.b.c.d/n` (or a single address) for a range, for evidence.
pub fn describe_range(r: Range) -> String {
    IpSet(vec![r]).to_cidrs().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cidrs: &[&str]) -> IpSet {
        IpSet::from_cidrs(cidrs.iter().copied())
    }

    #[test]
    fn set_algebra() {
        let vpc = set(&["10.0.0.0/16"]);
        let sub = set(&["10.0.1.0/24"]);
        assert!(vpc.covers(&sub));
        assert!(!sub.covers(&vpc));
        assert_eq!(vpc.minus(&sub).to_cidrs().len(), 8);
        assert_eq!(
            set(&["10.0.0.0/25", "10.0.0.128/25"]).to_cidrs(),
            vec!["10.0.0.0/24"]
        );
        assert_eq!(IpSet::all().to_cidrs(), vec!["0.0.0.0/0"]);
        assert!(set(&["0.0.0.0/1", "128.0.0.0/1"]).covers(&IpSet::public_internet()));
        assert!(!IpSet::public_internet().contains("10.1.2.3".parse().unwrap()));
        assert!(IpSet::public_internet().contains("52.216.1.1".parse().unwrap()));
        assert!(set(&["10.0.1.7"]).contains("10.0.1.7".parse().unwrap()));
        assert!(set(&["2001:db8::/32"]).is_empty());
        assert_eq!(set(&["10.0.0.5/24"]).to_cidrs(), vec!["10.0.0.0/24"]);
        assert!(set(&["52.0.0.0/8"]).intersect(&IpSet::public_internet()) == set(&["52.0.0.0/8"]));
    }

    fn rule(number: i32, allow: bool, cidr: &str, ports: (u16, u16)) -> AclRule {
        AclRule {
            number,
            allow,
            matches_tcp: true,
            ips: net_range(parse_net(cidr).unwrap()),
            ports,
        }
    }

    #[test]
    fn acl_first_match_wins_and_default_denies() {
        let all = IpSet::all();
        // Deny at 90 before allow at 100: denied.
        let rules = vec![
            rule(100, true, "0.0.0.0/0", (0, 65535)),
            rule(90, false, "0.0.0.0/0", (1024, 65535)),
        ];
        let v = evaluate_acl(&rules, &all, (1024, 65535));
        assert!(v.fully_denied());
        assert_eq!(v.denied[0].1, Some(90));
        // The same rules evaluated for port 443 only: 90 does not match, 100 allows.
        assert!(evaluate_acl(&rules, &all, (443, 443)).fully_allowed());
        // Nothing matches: the implicit deny.
        let v = evaluate_acl(
            &[rule(100, true, "10.0.0.0/16", (0, 65535))],
            &set(&["52.0.0.0/8"]),
            (443, 443),
        );
        assert_eq!(
            v.denied,
            vec![(
                TrafficBox {
                    ips: net_range(parse_net("52.0.0.0/8").unwrap()),
                    ports: (443, 443)
                },
                None
            )]
        );
        // Partial: allow only part of the ephemeral range.
        let v = evaluate_acl(
            &[rule(100, true, "0.0.0.0/0", (32768, 65535))],
            &all,
            (1024, 65535),
        );
        assert!(!v.fully_allowed() && !v.fully_denied());
        assert!(v.denied_in_ports((32768, 60999)).is_empty());
        assert_eq!(v.denied_in_ports((1024, 65535)).len(), 1);
        // A deny for one address inside an allowed range splits it.
        let rules = vec![
            rule(50, false, "10.0.2.10/32", (0, 65535)),
            rule(100, true, "10.0.0.0/16", (0, 65535)),
        ];
        let v = evaluate_acl(&rules, &set(&["10.0.2.0/24"]), (443, 443));
        assert_eq!(v.denied.len(), 1);
        assert_eq!(describe_range(v.denied[0].0.ips), "10.0.2.10/32");
    }
}
