// Command verify checks a Datanets proof with nothing but the Go team's
// golang.org/x/mod/sumdb/note and sumdb/tlog (docs/ledger.md, "Verify without
// our code").
//
//	verify VKEY-FILE PROOF-FILE
//
// PROOF-FILE is either a c2sp.org/tlog-proof@v1 inclusion proof (the entry
// bytes ride in its "extra" line, which this program hashes itself) or a
// datanets.dev/tlog-consistency@v1 proof. It prints OK and exits 0, or prints
// the failure and exits 1.
package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// checkpoint verifies a signed note and returns its size and root hash.
func checkpoint(text string, v note.Verifier) (int64, tlog.Hash) {
	n, err := note.Open([]byte(text), note.VerifierList(v))
	must(err)
	lines := strings.Split(n.Text, "\n") // origin, size, root, ""
	size, err := strconv.ParseInt(lines[1], 10, 64)
	must(err)
	var root tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	must(err)
	copy(root[:], raw)
	return size, root
}

func hashes(lines []string) []tlog.Hash {
	out := make([]tlog.Hash, len(lines))
	for i, l := range lines {
		raw, err := base64.StdEncoding.DecodeString(l)
		must(err)
		copy(out[i][:], raw)
	}
	return out
}

func main() {
	vkey, err := os.ReadFile(os.Args[1])
	must(err)
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	must(err)
	proof, err := os.ReadFile(os.Args[2])
	must(err)
	head, notes, _ := strings.Cut(string(proof), "\n\n")
	lines := strings.Split(head, "\n")
	switch lines[0] {
	case "c2sp.org/tlog-proof@v1":
		entry, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
		must(err)
		index, err := strconv.ParseInt(strings.TrimPrefix(lines[2], "index "), 10, 64)
		must(err)
		size, root := checkpoint(notes, v)
		tree := tlog.Tree{N: size, Hash: root}
		must(tlog.CheckRecord(hashes(lines[3:]), size, root, index, tlog.RecordHash(entry)))
		fmt.Printf("OK: entry %d is in the tree of size %d (%s)\n", index, tree.N, entry)
	case "datanets.dev/tlog-consistency@v1":
		// Two signed notes, each "body\n\nsignatures\n", separated by one blank line.
		i := strings.Index(notes, "\n\n")
		j := i + 2 + strings.Index(notes[i+2:], "\n\n")
		oldSize, oldRoot := checkpoint(notes[:j+1], v)
		newSize, newRoot := checkpoint(notes[j+2:], v)
		must(tlog.CheckTree(hashes(lines[1:]), newSize, newRoot, oldSize, oldRoot))
		fmt.Printf("OK: the tree of size %d extends the tree of size %d\n", newSize, oldSize)
	default:
		must(fmt.Errorf("unknown proof format %q", lines[0]))
	}
}

func must(err error) {
	if err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
}
