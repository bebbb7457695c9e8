package lxdtest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

// staleName matches the project and certificate-prefix names this package makes.
var staleName = regexp.MustCompile(`^` + projectPrefix + `[0-9a-f]{8}`)

// cleanup deletes what this run created: its project with everything in it, the certificates whose
// name starts with the run's prefix, and core.trust_password. It touches nothing else. The daemon may
// have been left down by a fault test: it is started first. Called by Main with run.mu held.
func cleanup() error {
	if err := ensureDaemon(); err != nil {
		return err
	}
	c, err := connect(DefaultSocket)
	if err != nil {
		return err
	}
	var errs []error
	if err := purgeProject(c, run.project); err != nil {
		errs = append(errs, err)
	}
	if err := deleteCertificates(c, func(name string) bool { return strings.HasPrefix(name, run.project) }); err != nil {
		errs = append(errs, err)
	}
	if run.passwordSet {
		if err := setTrustPassword(c, ""); err != nil {
			errs = append(errs, fmt.Errorf("unset core.trust_password: %w", err))
		}
	}
	return errors.Join(errs...)
}

// sweepStale deletes what earlier runs left behind because they died before their cleanup (a panic,
// a test timeout, SIGKILL): projects named dhtest-<8 hex> carrying this package's description, and
// certificates named dhtest-<8 hex>…. Safe because the caller holds the run lock: no other run is live.
func sweepStale(t testing.TB, c incus.InstanceServer) error {
	projects, err := c.GetProjects()
	if err != nil {
		return fmt.Errorf("list projects: %w", err)
	}
	var errs []error
	for _, p := range projects {
		if p.Name == run.project || !staleName.MatchString(p.Name) || p.Description != projectDescription {
			continue
		}
		t.Logf("lxdtest: deleting project %s left behind by an earlier run", p.Name)
		if err := purgeProject(c, p.Name); err != nil {
			errs = append(errs, err)
		}
	}
	err = deleteCertificates(c, func(name string) bool {
		if staleName.MatchString(name) && !strings.HasPrefix(name, run.project) {
			t.Logf("lxdtest: deleting certificate %s left behind by an earlier run", name)
			return true
		}
		return false
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// purgeProject deletes project and everything in it: instances (stopped first), images, profiles,
// custom storage volumes. A project that does not exist is not an error.
func purgeProject(c incus.InstanceServer, project string) error {
	if _, _, err := c.GetProject(project); err != nil {
		if api.StatusErrorCheck(err, 404) {
			return nil
		}
		return fmt.Errorf("get project %s: %w", project, err)
	}
	pc := c.UseProject(project)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	instances, err := pc.GetInstances(api.InstanceTypeAny)
	if err != nil {
		fail("list instances of %s: %w", project, err)
	}
	for _, inst := range instances {
		if inst.StatusCode == api.Frozen {
			if op, err := pc.UpdateInstanceState(inst.Name, api.InstanceStatePut{Action: "unfreeze", Timeout: -1}, ""); err == nil {
				_ = op.WaitContext(ctx)
			}
		}
		if inst.StatusCode != api.Stopped {
			op, err := pc.UpdateInstanceState(inst.Name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, "")
			if err == nil {
				err = op.WaitContext(ctx)
			}
			// It may have stopped since it was listed (its own run's cleanup, a desktop that ended).
			if err != nil && !strings.Contains(err.Error(), "already stopped") {
				fail("stop instance %s/%s: %w", project, inst.Name, err)
				continue
			}
		}
		op, err := pc.DeleteInstance(inst.Name)
		if err == nil {
			err = op.WaitContext(ctx)
		}
		if err != nil {
			fail("delete instance %s/%s: %w", project, inst.Name, err)
		}
	}

	fingerprints, err := pc.GetImageFingerprints()
	if err != nil {
		fail("list images of %s: %w", project, err)
	}
	for _, fp := range fingerprints {
		op, err := pc.DeleteImage(fp)
		if err == nil {
			err = op.WaitContext(ctx)
		}
		if err != nil {
			fail("delete image %s/%.12s: %w", project, fp, err)
		}
	}

	profiles, err := pc.GetProfileNames()
	if err != nil {
		fail("list profiles of %s: %w", project, err)
	}
	for _, name := range profiles {
		if name == "default" {
			continue // goes with the project
		}
		if err := pc.DeleteProfile(name); err != nil {
			fail("delete profile %s/%s: %w", project, name, err)
		}
	}

	pools, err := c.GetStoragePoolNames()
	if err != nil {
		fail("list storage pools: %w", err)
	}
	for _, pool := range pools {
		vols, err := pc.GetStoragePoolVolumes(pool)
		if err != nil {
			fail("list volumes of %s in pool %s: %w", project, pool, err)
			continue
		}
		for _, v := range vols {
			if v.Type != "custom" || strings.Contains(v.Name, "/") {
				continue // instance and image volumes went with their owners; snapshots go with volumes
			}
			if err := pc.DeleteStoragePoolVolume(pool, "custom", v.Name); err != nil {
				fail("delete volume %s/%s/%s: %w", pool, project, v.Name, err)
			}
		}
	}

	if len(errs) == 0 {
		if err := c.DeleteProject(project); err != nil {
			fail("delete project %s: %w", project, err)
		}
	}
	return errors.Join(errs...)
}

// deleteCertificates removes the trust-store certificates whose name matches.
func deleteCertificates(c incus.InstanceServer, match func(name string) bool) error {
	certs, err := c.GetCertificates()
	if err != nil {
		return fmt.Errorf("list certificates: %w", err)
	}
	var errs []error
	for _, cert := range certs {
		if !match(cert.Name) {
			continue
		}
		if err := c.DeleteCertificate(cert.Fingerprint); err != nil {
			errs = append(errs, fmt.Errorf("delete certificate %s (%.12s): %w", cert.Name, cert.Fingerprint, err))
		}
	}
	return errors.Join(errs...)
}
