//! ARNs and the names inside them (domain helpers shared by every stage).

/// The AWS partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn partitions() {
        for (region, partition) in [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-1", "aws")] {
            assert_eq!(super::partition_of(region), partition, "{region}");
        }
    }
}
