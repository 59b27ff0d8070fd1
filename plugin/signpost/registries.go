package signpost

import (
	"fmt"
	"maps"
	"sync"

	"github.com/signpost-dns/signpost/registry"
)

// registries holds the registry of each set of zones for the life of the
// process rather than of one plugin value: a Corefile reload builds a new
// plugin, which finds the registry here with everything registered so far.
// A registry is started by the first server instance that uses it and
// stopped when the last one shuts down.
var registries = struct {
	sync.Mutex
	m map[string]*sharedRegistry
}{m: make(map[string]*sharedRegistry)}

type sharedRegistry struct {
	reg     *registry.Registry
	checker *checker
	dir     string // data directory, empty for memory only
	refs    int
}

// getRegistry returns the registry for key, creating it when there is none
// (loaded from the data directory or etcd, when set), and applies the
// Corefile's expiry settings to it.
func getRegistry(key string, cfg *config) (*registry.Registry, error) {
	registries.Lock()
	defer registries.Unlock()
	dir := cfg.dataDir
	if s, ok := registries.m[key]; ok {
		if s.dir != dir {
			return nil, fmt.Errorf("data directory changed from %q to %q: a reload cannot move the registry, restart the server", s.dir, dir)
		}
		s.reg.Configure(cfg.regCfg)
		return s.reg, nil
	}
	reg, err := openRegistry(cfg)
	if err != nil {
		return nil, err
	}
	registries.m[key] = &sharedRegistry{reg: reg, checker: newChecker(reg), dir: dir}
	return reg, nil
}

func openRegistry(cfg *config) (*registry.Registry, error) {
	switch {
	case cfg.etcd != nil:
		reg, err := registry.OpenEtcd(*cfg.etcd, cfg.regCfg)
		if err != nil {
			return nil, err
		}
		log.Infof("registry loaded from etcd %v%s: %d services", cfg.etcd.Endpoints, cfg.etcd.Prefix, reg.Snapshot().Len())
		return reg, nil
	case cfg.dataDir != "":
		reg, err := registry.Open(cfg.dataDir, cfg.regCfg)
		if err != nil {
			return nil, err
		}
		log.Infof("registry loaded from %s: %d services", cfg.dataDir, reg.Snapshot().Len())
		return reg, nil
	}
	return registry.New(cfg.regCfg), nil
}

// acquireRegistry marks the registry for key as used by one more running
// server instance and starts its lease expiry.
func acquireRegistry(key string) {
	registries.Lock()
	defer registries.Unlock()
	if s, ok := registries.m[key]; ok {
		s.refs++
		if s.refs == 1 {
			s.reg.Start()
			s.checker.start()
		}
	}
}

// releaseRegistry undoes acquireRegistry; the last release stops the
// registry and forgets it.
func releaseRegistry(key string) {
	registries.Lock()
	defer registries.Unlock()
	s, ok := registries.m[key]
	if !ok {
		return
	}
	if s.refs--; s.refs > 0 {
		return
	}
	s.checker.stop()
	s.reg.Stop()
	delete(registries.m, key)
}

// liveRegistries returns the registries by key, for metrics.
func liveRegistries() map[string]*registry.Registry {
	registries.Lock()
	defer registries.Unlock()
	out := make(map[string]*registry.Registry, len(registries.m))
	for k, s := range maps.All(registries.m) {
		out[k] = s.reg
	}
	return out
}
