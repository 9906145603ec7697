package main

import "testing"

// TestShownQuotesControlCharacters: a record key or schema a peer chose
// reaches the terminal without its control characters.
func TestShownQuotesControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"/netabase/12D3KooW/greeting": "/netabase/12D3KooW/greeting",
		"café ☕":                      "café ☕",
		"x\x1b]0;owned\x07":           `"x\x1b]0;owned\a"`,
		"two\nlines":                  `"two\nlines"`,
		"tab\there":                   `"tab\there"`,
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %s, want %s", in, got, want)
		}
	}
}
