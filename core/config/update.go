package config

import (
	"fmt"
	"os"
	"path/filepath"
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
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+FileName+".*")
	if err != nil {
		return fmt.Errorf("cannot write the configuration file: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot write the configuration file %s: %w", path, err)
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
