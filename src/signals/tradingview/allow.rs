//! The optional IP allow-list of a webhook source: single addresses or CIDR blocks.

use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBlock {
    addr: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Parses `"52.89.214.238"`, `"10.0.0.0/8"` or `"2001:db8::/32"`.
    pub fn parse(text: &str) -> Result<IpBlock, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            format!(
                "{} is not an IP address or CIDR block",
                crate::input::excerpt(text)
            )
        })?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!(
                    "{} has a prefix length outside 0..={max}",
                    crate::input::excerpt(text)
                )
            })?,
        };
        Ok(IpBlock { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u32) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u32::from(prefix).min(width);
    bits >> (width - keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_blocks() {
        let one = IpBlock::parse("52.89.214.238").unwrap();
        assert!(one.contains("52.89.214.238".parse().unwrap()));
        assert!(!one.contains("52.89.214.239".parse().unwrap()));
        // A v4 client seen through a dual-stack socket still matches.
        assert!(one.contains("::ffff:52.89.214.238".parse().unwrap()));
        let block = IpBlock::parse("10.1.0.0/16").unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        let v6 = IpBlock::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        assert!(IpBlock::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpBlock::parse("10.0.0.0/33").is_err());
        assert!(IpBlock::parse("tradingview.com").is_err());
    }
}
