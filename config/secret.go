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

// String is "[secret]" when a value is set and "" otherwise, never the value.
func (s Secret) String() string {
	if s.IsSet() {
		return "[secret]"
	}
	return ""
}

// GoString is String, so %#v does not print the value either.
func (s Secret) GoString() string { return s.String() }

// UnmarshalJSON reads the value from a JSON string, as Load decodes the configuration.
func (s *Secret) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &s.value)
}

// MarshalJSON writes String ("[secret]" or ""), never the value.
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.String())
}

// reveal is for validation of shape (URL scheme, key list) inside this package only.
func (s Secret) reveal() string { return s.value }
