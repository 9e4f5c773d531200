package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// Checks of the AWS names the backup's S3 sink takes, so a mistake is refused at preview with
// its key instead of failing in the AWS provider or, worse, in the first nightly upload.

// awsPartitions are the AWS partitions and the format of their region names, as aws-sdk-go-v2
// v1.41.5 defines them (internal/endpoints/awsrulesfn/partitions.json); the SDK exports no
// region helper of its own, only the ARN parser used below.
var awsPartitions = []struct {
	id      string
	regions *regexp.Regexp
}{
	{"aws", regexp.MustCompile(`^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$`)},
	{"aws-cn", regexp.MustCompile(`^cn\-\w+\-\d+$`)},
	{"aws-eusc", regexp.MustCompile(`^eusc\-(de)\-\w+\-\d+$`)},
	{"aws-iso", regexp.MustCompile(`^us\-iso\-\w+\-\d+$`)},
	{"aws-iso-b", regexp.MustCompile(`^us\-isob\-\w+\-\d+$`)},
	{"aws-iso-e", regexp.MustCompile(`^eu\-isoe\-\w+\-\d+$`)},
	{"aws-iso-f", regexp.MustCompile(`^us\-isof\-\w+\-\d+$`)},
	{"aws-us-gov", regexp.MustCompile(`^us\-gov\-\w+\-\d+$`)},
}

// regionPartition is the partition whose region names region is formatted as, or "".
func regionPartition(region string) string {
	for _, p := range awsPartitions {
		if p.regions.MatchString(region) {
			return p.id
		}
	}
	return ""
}

// Partition is the AWS partition of the bucket's region ("aws" when the region names none).
func (s BackupS3) Partition() string {
	if p := regionPartition(s.Region); p != "" {
		return p
	}
	return "aws"
}

// checkRegion refuses a set region that no AWS partition names so, and reports whether it is
// one.
func checkRegion(p *problems, key, region string) bool {
	if region == "" || regionPartition(region) != "" {
		return true
	}
	p.addf(key, `use the bucket's region code, such as "eu-west-1" or "us-gov-west-1"`, "%q is not an AWS region name", region)
	return false
}

// arnKind is what an ARN setting must name: a service, one of its resource types and whether
// the resource lives in a region.
type arnKind struct {
	service string
	// resources are the resource-type prefixes the setting accepts ("key/", "role/", ...).
	resources []string
	// regional ARNs name a region (KMS keys); global ones leave it empty (IAM).
	regional bool
	example  string
}

var (
	// kmsKeyARN is a KMS key or alias, which S3 requires in the bucket's region.
	kmsKeyARN = arnKind{"kms", []string{"key/", "alias/"}, true, "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
	// iamRoleARN is an IAM role.
	iamRoleARN = arnKind{"iam", []string{"role/"}, false, "arn:aws:iam::111122223333:role/certctl-backup"}
	// oidcProviderARN is an IAM OIDC identity provider, the cluster's for IRSA.
	oidcProviderARN = arnKind{"iam", []string{"oidc-provider/"}, false,
		"arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"}
)

var awsAccountID = regexp.MustCompile(`^\d{12}$`)

// checkARN refuses a set value that is not an ARN of the kind the key needs, and one outside
// region's partition (or, for a regional resource, outside region itself) when region is a
// valid region name.
func checkARN(p *problems, key, v string, kind arnKind, region string) {
	if v == "" {
		return
	}
	fix := "use an ARN such as " + kind.example
	parsed, err := arn.Parse(v)
	if err != nil {
		p.addf(key, fix, "%q is not an ARN: %v", v, err)
		return
	}
	if parsed.Service != kind.service {
		p.addf(key, fix, "%q is an ARN of the %s service, not %s", v, parsed.Service, kind.service)
		return
	}
	var wrong []string
	if slices.Contains(kind.resources, parsed.Resource) ||
		!slices.ContainsFunc(kind.resources, func(prefix string) bool { return strings.HasPrefix(parsed.Resource, prefix) }) {
		wrong = append(wrong, fmt.Sprintf("names the resource %q, which does not start with %s", parsed.Resource, strings.Join(kind.resources, " or ")))
	}
	if !awsAccountID.MatchString(parsed.AccountID) {
		wrong = append(wrong, fmt.Sprintf("has the account %q, not a 12-digit account ID", parsed.AccountID))
	}
	switch {
	case kind.regional && regionPartition(parsed.Region) == "":
		wrong = append(wrong, fmt.Sprintf("has the region %q, not an AWS region name", parsed.Region))
	case kind.regional && region != "" && regionPartition(region) != "" && parsed.Region != region:
		wrong = append(wrong, fmt.Sprintf("is in %s, but backup.s3.region is %s and S3 uses keys of the bucket's region only", parsed.Region, region))
	case !kind.regional && parsed.Region != "":
		wrong = append(wrong, fmt.Sprintf("has the region %q, but %s ARNs have none", parsed.Region, kind.service))
	}
	if want := regionPartition(region); want != "" && parsed.Partition != want {
		wrong = append(wrong, fmt.Sprintf("is in the partition %s, but backup.s3.region %s is in %s", parsed.Partition, region, want))
	}
	if len(wrong) > 0 {
		p.addf(key, fix, "%q %s", v, strings.Join(wrong, ", and "))
	}
}

// bucketNameProblem says why name breaks AWS's naming rules for general purpose buckets
// (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), or "". The prefixes
// and suffixes AWS reserves apply on AWS only (onAWS); other S3-compatible stores take any name
// of the basic form.
func bucketNameProblem(name string, onAWS bool) string {
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	switch {
	case len(name) < 3 || len(name) > 63:
		return fmt.Sprintf("is %d characters, not 3 to 63", len(name))
	case strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "":
		return "has characters other than lowercase letters, digits, '.' and '-'"
	case !alnum(name[0]) || !alnum(name[len(name)-1]):
		return "does not start and end with a letter or digit"
	case strings.Contains(name, ".."):
		return "has two adjacent periods"
	}
	if addr, err := netip.ParseAddr(name); err == nil && addr.Is4() {
		return "is formatted as an IP address"
	}
	if !onAWS {
		return ""
	}
	for _, prefix := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, prefix) {
			return fmt.Sprintf("starts with %q, which AWS reserves", prefix)
		}
	}
	for _, suffix := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, suffix) {
			return fmt.Sprintf("ends with %q, which AWS reserves", suffix)
		}
	}
	return ""
}
