package config

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Secret holds a value read from secret config. It never prints or marshals its value, so a
// Config can be logged or diffed without leaking; Output is the only way to use the value.
type Secret struct {
	value string
}

// NewSecret wraps a value (tests and Load).
func NewSecret(v string) Secret { return Secret{value: v} }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s.value != "" }

// Output returns the value as a Pulumi secret.
func (s Secret) Output() pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.String(s.value)).(pulumi.StringOutput)
}

func (s Secret) String() string {
	if s.IsSet() {
		return "[secret]"
	}
	return ""
}

func (s Secret) GoString() string { return s.String() }

func (s *Secret) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &s.value)
}

func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.String())
}

// reveal is for validation of shape (URL scheme, key list) inside this package only.
func (s Secret) reveal() string { return s.value }
