// Command tilecheck reads a Datanets ledger served as C2SP tlog-tiles using
// only the Go team's golang.org/x/mod/sumdb/tlog and sumdb/note, plus
// crypto/ed25519 for cosignature/v1 (docs/witness.md, "Check it with Go").
//
//	tilecheck URL LOG-VKEY [WITNESS-VKEY ...]
//
// It verifies the checkpoint signature, reads the tree through
// tlog.TileHashReader (which authenticates every tile against the signed
// root), proves and checks the inclusion of every entry of every entry
// bundle, and verifies each witness's cosignature/v1 line. sumdb names tiles
// tile/8/L/N and tile/8/data/N; tlog-tiles drops the height: tile/L/N and
// tile/entries/N, so paths are mapped before fetching. Prints OK ... and
// exits 0, or prints FAILED: ... and exits 1.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func get(url string) []byte {
	resp, err := http.Get(url)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		fail("GET %s: status %d %v", url, resp.StatusCode, err)
	}
	return body
}

// tilesPath maps a sumdb tile path (tile/8/L/N, tile/8/data/N) to tlog-tiles (tile/L/N, tile/entries/N).
func tilesPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	return "tile/" + strings.Replace(p, "data/", "entries/", 1)
}

type reader struct{ base string }

func (r reader) Height() int { return 8 }

func (r reader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		out[i] = get(r.base + "/" + tilesPath(t))
	}
	return out, nil
}

func (r reader) SaveTiles([]tlog.Tile, [][]byte) {}

func bundle(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			fail("truncated entry bundle")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			fail("truncated entry bundle")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out
}

// cosigned checks one cosignature/v1 line by the witness vkey name+hex(id)+base64(0x04||key) on the note text.
func cosigned(msg []byte, text string, vkey string) {
	parts := strings.SplitN(vkey, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if len(parts) != 3 || err != nil || len(raw) != 33 || raw[0] != 0x04 {
		fail("bad witness vkey %q", vkey)
	}
	id := sha256.Sum256(append([]byte(parts[0]+"\n\x04"), raw[1:]...))
	if hex.EncodeToString(id[:4]) != parts[1] {
		fail("witness vkey id mismatch")
	}
	for _, line := range strings.Split(string(msg), "\n") {
		f := strings.Split(strings.TrimPrefix(line, "— "), " ")
		if !strings.HasPrefix(line, "— ") || len(f) != 2 || f[0] != parts[0] {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil || len(sig) != 76 || !bytes.Equal(sig[:4], id[:4]) {
			continue
		}
		ts := binary.BigEndian.Uint64(sig[4:12])
		signed := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
		if !ed25519.Verify(ed25519.PublicKey(raw[1:]), []byte(signed), sig[12:]) {
			fail("cosignature by %s does not verify", parts[0])
		}
		return
	}
	fail("no cosignature by %s", parts[0])
}

func main() {
	base := strings.TrimSuffix(os.Args[1], "/")
	v, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("log vkey: %v", err)
	}
	msg := get(base + "/checkpoint")
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	var root tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != 32 {
		fail("checkpoint root")
	}
	copy(root[:], raw)
	tree := tlog.Tree{N: size, Hash: root}
	hr := tlog.TileHashReader(tree, reader{base})
	got, err := tlog.TreeHash(size, hr)
	if err != nil || got != root {
		fail("tree hash from tiles: %v", err)
	}
	proven := int64(0)
	for start := int64(0); start < size; start += 256 {
		w := size - start
		if w > 256 {
			w = 256
		}
		data := tlog.Tile{H: 8, L: -1, N: start / 256, W: int(w)}
		for i, e := range bundle(get(base + "/" + tilesPath(data))) {
			idx := start + int64(i)
			p, err := tlog.ProveRecord(size, idx, hr)
			if err != nil {
				fail("prove %d: %v", idx, err)
			}
			if err := tlog.CheckRecord(p, size, root, idx, tlog.RecordHash(e)); err != nil {
				fail("entry %d: %v", idx, err)
			}
			proven++
		}
	}
	if proven != size {
		fail("bundles hold %d entries, checkpoint says %d", proven, size)
	}
	for _, wk := range os.Args[3:] {
		cosigned(msg, n.Text, wk)
	}
	fmt.Printf("OK: %s size %d root %s: %d entries proven, %d cosignatures\n", lines[0], size, lines[2], proven, len(os.Args)-3)
}
