package archive

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Limits bound the resources that reading one archive may use. A zero or
// negative field means its default.
type Limits struct {
	// MaxCompressed is the largest zip accepted, in bytes (64 MiB).
	MaxCompressed int64
	// MaxUnpacked bounds the total size of all entries once decompressed,
	// in bytes (256 MiB). It is counted while decompressing; the sizes that
	// entry headers claim are never trusted.
	MaxUnpacked int64
	// MaxEntries is the largest number of entries, directories included,
	// and entries outside src/main/apigee/ included (10000).
	MaxEntries int
	// MaxFileSize bounds each JSON or XML file that is parsed, in bytes
	// (8 MiB).
	MaxFileSize int64
	// MaxYAMLSize bounds each YAML file that is parsed, in bytes (256 KiB).
	// It is smaller than MaxFileSize because the YAML parser builds a
	// whole node tree, up to about 120 bytes of memory per byte of input.
	MaxYAMLSize int64
}

// DefaultLimits returns the limits that deployments use.
func DefaultLimits() Limits {
	return Limits{
		MaxCompressed: 64 << 20,
		MaxUnpacked:   256 << 20,
		MaxEntries:    10000,
		MaxFileSize:   8 << 20,
		MaxYAMLSize:   256 << 10,
	}
}

// withDefaults replaces the unset fields of l by their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxCompressed <= 0 {
		l.MaxCompressed = d.MaxCompressed
	}
	if l.MaxUnpacked <= 0 {
		l.MaxUnpacked = d.MaxUnpacked
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = d.MaxFileSize
	}
	if l.MaxYAMLSize <= 0 {
		l.MaxYAMLSize = d.MaxYAMLSize
	}
	return l
}

// sizeLimit is the largest size accepted for the parsed file at name.
func (l Limits) sizeLimit(name string) int64 {
	if strings.HasSuffix(name, ".yaml") {
		return l.MaxYAMLSize
	}
	return l.MaxFileSize
}

// Paths inside an archive.
const (
	apigeeDir      = "src/main/apigee/"
	proxiesDir     = apigeeDir + "apiproxies/"
	environmentDir = apigeeDir + "environments/"
)

// Archive is the content of an uploaded zip that matters to a deployment:
// the files it parses and the names of all other entries, read into memory
// once and safely.
type Archive struct {
	// names holds the cleaned name of every file entry, sorted.
	names []string
	// files holds the content of the entries that may be parsed.
	files map[string][]byte
	// oversized holds the parseable entries larger than their limit, with
	// that limit; reading such a file is an error only if it is needed.
	oversized map[string]int64
	// wrapper is set to the folder when every entry is inside one folder
	// that itself holds src/main/apigee/: a common mistake worth a hint.
	wrapper string
	// parses reports whether the entry at a name is a file that may be
	// parsed: the layout of an archive, or that of a proxy bundle.
	parses func(name string) bool
}

// Read unpacks zipBytes into memory within lim. It refuses an archive that
// is not a zip, is too large packed or unpacked, has too many entries, or
// has an entry that is unsafe to extract: a name that is absolute, has a
// drive letter, a backslash, a control character or a ".." segment, a name
// used twice once cleaned, a symbolic link or another special file, or an
// encrypted entry. Every entry is decompressed and counted, but only the
// files that Bundle may parse are kept.
func Read(zipBytes []byte, lim Limits) (*Archive, error) {
	a, err := read(zipBytes, lim, parsed)
	if err != nil {
		return nil, err
	}
	a.wrapper = wrapperFolder(a.names, apigeeDir)
	return a, nil
}

// read unpacks zipBytes as Read does, keeping the files parses accepts.
func read(zipBytes []byte, lim Limits, parses func(string) bool) (*Archive, error) {
	lim = lim.withDefaults()
	if int64(len(zipBytes)) > lim.MaxCompressed {
		return nil, invalid("archive is %d bytes, more than the limit of %d bytes", len(zipBytes), lim.MaxCompressed)
	}
	// zip.NewReader allocates every central directory record (a few
	// hundred bytes each) before the entries can be counted, so a hostile
	// directory of a million empty records would cost hundreds of
	// megabytes. Each record starts with a signature, so counting the
	// signatures bounds the records; it can only overcount, when stored
	// data (say, an uncompressed jar) contains the signature, hence the
	// generous factor.
	if n := bytes.Count(zipBytes, []byte("PK\x01\x02")); n > 10*lim.MaxEntries {
		return nil, invalid("archive has too many entries: the limit is %d", lim.MaxEntries)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipBytes), int64(len(zipBytes)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// ErrInsecurePath comes with a usable reader; the checks below
		// report the offending entry by name.
		return nil, invalid("archive is not a valid zip file: %v", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, invalid("archive has %d entries, more than the limit of %d", len(zr.File), lim.MaxEntries)
	}
	a := &Archive{files: map[string][]byte{}, oversized: map[string]int64{}, parses: parses}
	seen := make(map[string]string, len(zr.File))
	var unpacked int64
	for _, f := range zr.File {
		name, isDir, problem := cleanEntryName(f.Name)
		if problem != "" {
			return nil, invalid("archive entry %q %s", clip(f.Name), problem)
		}
		if name == "" { // "./": the root itself
			continue
		}
		if first, ok := seen[name]; ok {
			return nil, invalid("archive entry %q duplicates entry %q", clip(f.Name), clip(first))
		}
		seen[name] = f.Name
		switch t := f.Mode().Type(); {
		case t&fs.ModeSymlink != 0:
			return nil, invalid("archive entry %q is a symbolic link", clip(f.Name))
		case t&^fs.ModeDir != 0:
			return nil, invalid("archive entry %q is not a regular file or directory", clip(f.Name))
		}
		if isDir || f.Mode().IsDir() {
			continue
		}
		if f.Flags&0x1 != 0 {
			return nil, invalid("archive entry %q is encrypted", clip(f.Name))
		}
		n, err := a.unpack(f, name, lim, lim.MaxUnpacked-unpacked)
		unpacked += n
		if unpacked > lim.MaxUnpacked {
			return nil, invalid("archive unpacks to more than the limit of %d bytes (at entry %q)", lim.MaxUnpacked, clip(f.Name))
		}
		if err != nil {
			return nil, invalid("archive entry %q cannot be read: %v", clip(f.Name), err)
		}
		a.names = append(a.names, name)
	}
	sort.Strings(a.names)
	return a, nil
}

// unpack decompresses f, keeping its content when Bundle may parse it, and
// returns how many bytes it unpacked: at most budget+1, so that the caller
// sees an archive that exceeds its budget without this allocating it.
func (a *Archive) unpack(f *zip.File, name string, lim Limits, budget int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	lr := &io.LimitedReader{R: rc, N: budget + 1}
	if a.parses(name) {
		max := lim.sizeLimit(name)
		data, err := io.ReadAll(io.LimitReader(lr, max+1))
		if err != nil {
			return budget + 1 - lr.N, err
		}
		if int64(len(data)) > max {
			a.oversized[name] = max
		} else {
			a.files[name] = data
		}
	}
	_, err = io.Copy(io.Discard, lr)
	return budget + 1 - lr.N, err
}

// cleanEntryName checks the raw name of a zip entry and returns it cleaned,
// whether it names a directory, and what is wrong with it if anything. The
// root folder ("./") cleans to "".
func cleanEntryName(raw string) (name string, isDir bool, problem string) {
	switch {
	case raw == "":
		return "", false, "has an empty name"
	case strings.ContainsRune(raw, '\\'):
		return "", false, "contains a backslash"
	case strings.IndexFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return "", false, "contains a control character"
	case raw[0] == '/':
		return "", false, "is an absolute path"
	case len(raw) >= 2 && raw[1] == ':' && ('a' <= raw[0]|0x20 && raw[0]|0x20 <= 'z'):
		return "", false, "starts with a drive letter"
	}
	for _, seg := range strings.Split(raw, "/") {
		if seg == ".." {
			return "", false, `contains a ".." path segment`
		}
	}
	isDir = strings.HasSuffix(raw, "/")
	name = path.Clean(raw)
	if name == "." {
		if !isDir {
			return "", false, "has no file name"
		}
		name = ""
	}
	return name, isDir, ""
}

// parsed reports whether the entry at name is a file that Bundle may parse.
func parsed(name string) bool {
	switch {
	case strings.HasPrefix(name, environmentDir):
		env, file, ok := strings.Cut(name[len(environmentDir):], "/")
		return ok && env != "" && (file == "deployments.json" || file == "targetservers.json")
	case strings.HasPrefix(name, proxiesDir):
		proxy, rest, ok := strings.Cut(name[len(proxiesDir):], "/")
		if !ok || proxy == "" {
			return false
		}
		if rest == "config.yaml" {
			return true
		}
		endpoint, ok := strings.CutPrefix(rest, "apiproxy/targets/")
		if !ok {
			endpoint, ok = strings.CutPrefix(rest, "apiproxy/proxies/")
		}
		return ok && !strings.Contains(endpoint, "/") && strings.HasSuffix(endpoint, ".xml") && endpoint != ".xml"
	}
	return false
}

// wrapperFolder returns "{folder}/" when the sorted names show the mistake
// of zipping the source folder instead of its content: no entry under root
// (src/main/apigee/ for an archive, apiproxy/ for a proxy bundle), but some
// under {folder}/{root}.
func wrapperFolder(names []string, root string) string {
	for _, n := range names {
		if strings.HasPrefix(n, root) {
			return ""
		}
	}
	for _, n := range names {
		if folder, rest, ok := strings.Cut(n, "/"); ok && strings.HasPrefix(rest, root) {
			return folder + "/"
		}
	}
	return ""
}

// hasPrefix reports whether some file entry's name starts with prefix.
func (a *Archive) hasPrefix(prefix string) bool {
	i := sort.SearchStrings(a.names, prefix)
	return i < len(a.names) && strings.HasPrefix(a.names[i], prefix)
}

// withPrefix returns the names of the file entries that start with prefix,
// sorted.
func (a *Archive) withPrefix(prefix string) []string {
	i := sort.SearchStrings(a.names, prefix)
	j := i
	for j < len(a.names) && strings.HasPrefix(a.names[j], prefix) {
		j++
	}
	return a.names[i:j]
}

// file returns the content of the parseable file at name, whether it is in
// the archive, and an error when it is there but too large to parse.
func (a *Archive) file(name string) ([]byte, bool, error) {
	if max, ok := a.oversized[name]; ok {
		return nil, true, invalid("%s: file is larger than the limit of %d bytes", name, max)
	}
	data, ok := a.files[name]
	return data, ok, nil
}
