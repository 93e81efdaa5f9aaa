package installer

import (
	"context"
	"runtime"
	"time"

	"github.com/kardianos/service"
)

// RunManaged runs the daemon under the Windows service control manager
// when the process was started by it, and reports whether it did. The SCM
// kills a service process that does not answer its protocol within ~30 s,
// so `holdover run` must go through kardianos' Run there. Elsewhere, and
// when run from a console, it returns false at once and the caller runs
// the daemon itself (systemd and launchd need no such handshake).
func RunManaged(opts Options, run func(ctx context.Context) error) (bool, error) {
	if runtime.GOOS != "windows" || service.Interactive() {
		return false, nil
	}
	cfg, err := ServiceConfig(opts)
	if err != nil {
		return true, err
	}
	p := &managedProgram{run: run, done: make(chan error, 1)}
	s, err := service.New(p, cfg)
	if err != nil {
		return true, err
	}
	if err := s.Run(); err != nil {
		return true, err
	}
	return true, p.err
}

// managedProgram adapts the daemon's Run(ctx) to kardianos' Start/Stop.
type managedProgram struct {
	run    func(ctx context.Context) error
	cancel context.CancelFunc
	done   chan error
	err    error
}

func (p *managedProgram) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- p.run(ctx) }()
	return nil
}

func (p *managedProgram) Stop(service.Service) error {
	p.cancel()
	select {
	case p.err = <-p.done:
	case <-time.After(30 * time.Second):
	}
	return nil
}
