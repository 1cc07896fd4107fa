package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

const (
	// firstKeyID is the id of the key written to a newly created key file.
	firstKeyID = "k1"
	// maxKeyFileSize bounds how much of a key file is read.
	maxKeyFileSize = 64 << 10
)

// LoadOrCreateKeyFile loads a keyring from the key file at path, which uses
// the ParseKeys format. If the file does not exist, it creates the parent
// directory (mode 0700) and the file (mode 0600) containing one fresh random
// key with id "k1", and reports created as true. The new file is written to a
// temporary file in the same directory, synced and then moved into place, so
// readers never see a partial file and a file created concurrently by another
// process is never overwritten (its keys are loaded instead).
//
// On Unix-like systems, an existing file readable or writable by group or
// others is rejected with an error asking for chmod 600.
func LoadOrCreateKeyFile(path string) (kr *Keyring, created bool, err error) {
	kr, err = loadKeyFile(path)
	if err == nil {
		return kr, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	created, err = createKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	kr, err = loadKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	return kr, created, nil
}

func loadKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secret: open key file: %w", err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: stat key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("secret: key file %s has permissions %#o, which let other users read it; run: chmod 600 %s", path, perm, path)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize))
	if err != nil {
		return nil, fmt.Errorf("secret: read key file: %w", err)
	}
	kr, err := ParseKeys(string(data))
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	return kr, nil
}

// createKeyFile writes a new key file atomically. It reports false without
// error if another process created the file first.
func createKeyFile(path string) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("secret: create key directory: %w", err)
	}
	entry, err := generateEntry(firstKeyID)
	if err != nil {
		return false, err
	}

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("secret: create temporary key file: %w", err)
	}
	tmpPath := tmp.Name()
	defer func() {
		// After a successful link the temporary name is redundant; after a
		// rename it no longer exists. Either way removal is best effort.
		_ = os.Remove(tmpPath)
	}()

	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		_ = tmp.Close()
		return false, fmt.Errorf("secret: chmod temporary key file: %w", err)
	}
	if _, err := tmp.WriteString(entry + "\n"); err != nil {
		_ = tmp.Close()
		return false, fmt.Errorf("secret: write temporary key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return false, fmt.Errorf("secret: sync temporary key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("secret: close temporary key file: %w", err)
	}

	// A hard link fails if path already exists, so a key file created by a
	// concurrent process is never replaced. Fall back to rename on file
	// systems without hard links.
	if err := os.Link(tmpPath, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if _, statErr := os.Lstat(path); statErr == nil {
			return false, nil
		}
		if err := os.Rename(tmpPath, path); err != nil {
			return false, fmt.Errorf("secret: move key file into place: %w", err)
		}
	}
	syncDir(dir)
	return true, nil
}

// syncDir makes the new directory entry durable where the platform allows.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
