// Package blob stores message bodies as files: one file per body under
// <root>/<shard>/<id>, where shard is the first two hex digits of the id.
//
// A body is written under its final name; Commit fsyncs it and its shard
// directory (side by side: the two flushes overlap) and closes it, and only
// then may the index reference the body. A body file without an index row
// is an orphan: harmless, swept by the store.
// Ids are random hex, so a body's path never derives from client input.
package blob

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

const idLen = 32 // hex digits: 128 random bits

// ErrInvalidID is returned for an id that is not one of ours.
var ErrInvalidID = errors.New("blob: invalid id")

// FS is a body store in a directory.
type FS struct {
	root string
}

// OpenFS opens (creating if needed) a body store rooted at dir.
func OpenFS(dir string) (*FS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	for i := 0; i < 256; i++ {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("%02x", i)), 0o700); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return &FS{root: dir}, nil
}

// ValidID reports whether id has the form of a body id.
func ValidID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Shard returns the directory name that holds id.
func Shard(id string) string { return id[:2] }

// Path returns the file path of id.
func (f *FS) Path(id string) (string, error) {
	if !ValidID(id) {
		return "", ErrInvalidID
	}
	return filepath.Join(f.root, Shard(id), id), nil
}

// Writer writes one new body.
type Writer struct {
	f    *os.File
	bw   *bufio.Writer
	id   string
	size int64
	done bool
}

// NewID returns a fresh random body id.
func NewID() (string, error) {
	var b [idLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Create starts a new body with a fresh random id.
func (f *FS) Create() (*Writer, error) {
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	path, _ := f.Path(id)
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Writer{f: fh, bw: bufio.NewWriterSize(fh, 64<<10), id: id}, nil
}

// ID returns the body's id.
func (w *Writer) ID() string { return w.id }

// Size returns the bytes written so far.
func (w *Writer) Size() int64 { return w.size }

func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("blob: write after commit")
	}
	n, err := w.bw.Write(p)
	w.size += int64(n)
	return n, err
}

// Commit flushes the file, fsyncs it and its shard directory (which holds
// its name), and closes it.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("blob: already committed")
	}
	w.done = true
	err := w.bw.Flush()
	if err == nil {
		dir := make(chan error, 1)
		go func() { dir <- syncDir(filepath.Dir(w.f.Name())) }()
		err = w.f.Sync()
		if derr := <-dir; err == nil {
			err = derr
		}
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// Abort discards the body.
func (w *Writer) Abort() {
	if !w.done {
		w.done = true
		w.f.Close()
	}
	os.Remove(w.f.Name())
}

// Open opens a stored body for reading.
func (f *FS) Open(id string) (*os.File, error) {
	path, err := f.Path(id)
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// Stat returns the size of a stored body.
func (f *FS) Stat(id string) (int64, error) {
	path, err := f.Path(id)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Remove deletes a body; a missing one is not an error.
func (f *FS) Remove(id string) error {
	path, err := f.Path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Shards lists the 256 shard names.
func Shards() []string {
	s := make([]string, 256)
	for i := range s {
		s[i] = fmt.Sprintf("%02x", i)
	}
	return s
}

// Entry is one body file found by List.
type Entry struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// List returns the bodies in one shard. Files whose names are not ids are
// skipped.
func (f *FS) List(shard string) ([]Entry, error) {
	des, err := os.ReadDir(filepath.Join(f.root, shard))
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		if !ValidID(de.Name()) || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, Entry{ID: de.Name(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	return out, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob: fsync %s: %w", dir, err)
	}
	return nil
}
