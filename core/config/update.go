package config

import (
	"fmt"

	"github.com/netabase/netabase/core"
)

// Update changes the configuration file at path: it loads the file, lets
// change edit it, checks the result and writes it back whole, as Encode
// writes it (keys and their comments; comments added by hand are not
// kept). The new file replaces the old one in one rename, after it is
// synced, so a crash leaves either the old file or the new one. Nothing is
// written when change or the check fails.
func Update(path string, change func(*Config) error) error {
	c, err := Load(path)
	if err != nil {
		return err
	}
	if err := change(&c); err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return err
	}
	b, err := c.Encode()
	if err != nil {
		return err
	}
	if err := core.WriteFileAtomic(path, b); err != nil {
		return fmt.Errorf("cannot write the configuration file: %w", err)
	}
	return nil
}
