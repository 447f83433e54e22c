package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// archiveRoot is the folder of a source tree that an archive carries: the
// server reads nothing else, so nothing else (keys lying next to it, build
// output) is uploaded.
const archiveRoot = "src/main/apigee"

// zipEpoch is the modification time of every entry, so that the same folder
// always gives the same bytes: 1980-01-01, the earliest time zip can hold.
var zipEpoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// packArchive zips the src/main/apigee tree of dir, with entries named
// src/main/apigee/... in lexical order, fixed times and modes, and hidden
// files and folders (.git, .DS_Store, editor state) left out.
func packArchive(dir string) ([]byte, error) {
	if err := checkSourceFolder(dir, "give a ZIP file with --bundle-file"); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, filepath.FromSlash(archiveRoot))
	fi, err := os.Stat(root)
	if err != nil || !fi.IsDir() {
		return nil, usageErrorf("--source %s: the folder must contain %s", dir, archiveRoot)
	}
	return packTree(dir, dir, root, archiveRoot)
}

// checkSourceFolder checks that --source names a folder; hint says what to
// give instead of a file.
func checkSourceFolder(dir, hint string) error {
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return usageErrorf("--source %s: the folder does not exist", dir)
	case err != nil:
		return usageErrorf("--source %s: %v", dir, err)
	case !fi.IsDir():
		return usageErrorf("--source %s: not a folder (%s)", dir, hint)
	}
	return nil
}

// packTree zips the files under root, named by their path relative to
// base, in lexical order, with fixed times and modes, and hidden files and
// folders left out; source is the --source given and rootName how
// messages name root. Only regular
// files are packed: a symbolic link could carry a file from anywhere on
// the machine to the server.
func packTree(source, base, root, rootName string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := 0
	// WalkDir visits entries in lexical order, which makes the order stable.
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: only regular files can be deployed, not symbolic links or devices", name)
		}
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipEpoch}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", source, err)
	}
	if files == 0 {
		return nil, usageErrorf("--source %s: %s holds no files", source, rootName)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sourceOrBundle returns the zip a command was given: --source packed
// with pack, or the --bundle-file as it is; exactly one must be given.
func sourceOrBundle(source, bundle string, pack func(dir string) ([]byte, error)) ([]byte, error) {
	switch {
	case (source == "") == (bundle == ""):
		return nil, usageErrorf("give exactly one of --source and --bundle-file")
	case source != "":
		return pack(source)
	default:
		return readBundle(bundle)
	}
}

// readBundle reads a zip given with --bundle-file, after a quick check that
// it is one, so that a wrong file fails here rather than in the operation.
func readBundle(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--bundle-file: %w", err)
	}
	if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
		if errors.Is(err, zip.ErrFormat) {
			return nil, usageErrorf("--bundle-file %s: not a zip file", file)
		}
		return nil, fmt.Errorf("--bundle-file %s: %w", file, err)
	}
	return b, nil
}

// proxyRoot is the folder an API proxy bundle carries at its root.
const proxyRoot = "apiproxy"

// packProxy zips an API proxy bundle from dir: the apiproxy folder inside
// dir, or dir itself when it is an apiproxy folder (as apigeecli's
// --proxy-folder takes it). Entries are named apiproxy/... and packed as
// packTree packs them, so the same folder always gives the same zip.
func packProxy(dir string) ([]byte, error) {
	if err := checkSourceFolder(dir, "give a ZIP file with --bundle-file"); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, proxyRoot)
	if fi, err := os.Stat(root); err == nil && fi.IsDir() {
		return packTree(dir, dir, root, proxyRoot)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if filepath.Base(abs) == proxyRoot {
		return packTree(dir, filepath.Dir(abs), abs, proxyRoot)
	}
	return nil, usageErrorf("--source %s: the folder must contain %s/ (or be an %s folder)", dir, proxyRoot, proxyRoot)
}
