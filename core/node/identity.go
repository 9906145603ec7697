package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// LoadIdentity returns the private key kept in dataDir. When there is none
// and create is true, it generates an Ed25519 key and writes it, readable
// only by its owner; created reports whether it did.
func LoadIdentity(dataDir string, create bool) (key crypto.PrivKey, created bool, err error) {
	path := filepath.Join(dataDir, IdentityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("the identity key %s is damaged (%v); restore it from a backup, or move it aside to start as a new peer", path, err)
		}
		return k, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("cannot read the identity key: %w", err)
	case !create:
		return nil, false, fmt.Errorf("no identity key at %s; create one with netabase init", path)
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, false, err
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("cannot create the data directory: %w", err)
	}
	// O_EXCL: two processes starting at once must not each write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadIdentity(dataDir, false)
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot write the identity key: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("cannot write the identity key: %w", err)
	}
	return k, true, nil
}
