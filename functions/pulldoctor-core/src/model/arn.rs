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

/// The account of an ARN (`arn:aws:iam::111122223333:role/x` → `111122223333`).
pub fn account(arn: &str) -> Option<&str> {
    part(arn, 4)
}

/// The region of an ARN (`arn:aws:ecs:us-east-1:111122223333:task/…` → `us-east-1`).
pub fn region(arn: &str) -> Option<&str> {
    part(arn, 3)
}

/// The partition an ARN names (`aws`, `aws-cn`, …).
pub fn partition(arn: &str) -> Option<&str> {
    part(arn, 1)
}

fn part(arn: &str, index: usize) -> Option<&str> {
    arn.split(':').nth(index).filter(|p| !p.is_empty())
}

/// The last path segment: a role's name without its path (`arn:aws:iam::1:role/path/name` →
/// `name`), a cluster's name (`arn:aws:ecs:r:a:cluster/prod` → `prod`). A bare name stays as it is.
pub fn last_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `arn:aws:iam::1:role/path/name` → `name` (what `iam:GetRole` and CloudTrail call the role).
pub fn role_name(arn: &str) -> &str {
    last_name(arn)
}

/// `arn:aws:ecs:r:a:cluster/prod` → `prod`; a bare name stays as it is.
pub fn cluster_name(arn: &str) -> &str {
    last_name(arn)
}

/// `arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME`, with the partition of a related ARN.
pub fn repository_arn(related_arn: &str, region: &str, account: &str, name: &str) -> String {
    let partition = related_arn
        .split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    format!("arn:{partition}:ecr:{region}:{account}:repository/{name}")
}

/// The key ARN for `kms:Decrypt`, from the key id Secrets Manager reports. `None` for the AWS
/// managed key and for aliases (an alias would need `kms:DescribeKey` to resolve).
pub fn kms_key_arn(key: &str, secret_arn: &str) -> Option<String> {
    if key.contains(":alias/") || key.starts_with("alias/") {
        return None;
    }
    if key.starts_with("arn:") {
        return Some(key.to_string());
    }
    let partition = partition(secret_arn)?;
    let region = region(secret_arn)?;
    let account = account(secret_arn)?;
    Some(format!("arn:{partition}:kms:{region}:{account}:key/{key}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn partitions() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("eu-west-1", "aws"),
        ] {
            assert_eq!(super::partition_of(region), partition, "{region}");
        }
    }
}
