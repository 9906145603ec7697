package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"sync"

	ds "github.com/ipfs/go-datastore"
)

// ProfileEnv names the variable that, when set, makes the plugin write a
// CPU profile of its process to the file it names with ".<pid>" appended,
// from the Open of its store to its Close: the host's benchmarks profile
// both ends of the hop with it (see BENCHMARKS.md).
const ProfileEnv = "NETABASE_TEST_PLUGIN_CPUPROFILE"

// profiled starts the CPU profile ProfileEnv asks for and returns s with a
// Close that stops it; without ProfileEnv it returns s.
func profiled(s ds.Batching) (ds.Batching, error) {
	path := os.Getenv(ProfileEnv)
	if path == "" {
		return s, nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("the CPU profile %s asks for: %w", ProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("the CPU profile %s asks for: %w", ProfileEnv, err)
	}
	return &profiledStore{Batching: s, f: f}, nil
}

// profiledStore is a store whose Close ends the process's CPU profile.
type profiledStore struct {
	ds.Batching
	f    *os.File
	once sync.Once
}

func (p *profiledStore) Close() error {
	err := p.Batching.Close()
	p.once.Do(func() {
		pprof.StopCPUProfile()
		p.f.Close()
	})
	return err
}
