package apiserver

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// diffContext is the number of unchanged lines around each change.
const diffContext = 3

// maxDiffCells bounds the work of one line diff (lines before × lines
// after). Objects are small; a huge one gets a whole-object diff instead.
const maxDiffCells = 1 << 20

// resultOf converts a store result for the wire: objects redacted, and a
// diff per change.
func resultOf(res *store.ApplyResult) apiclient.ApplyResult {
	out := apiclient.ApplyResult{Revision: res.Revision, DryRun: res.DryRun, Changes: make([]apiclient.Change, 0, len(res.Changes)),
		Warnings: details(res.Warnings)}
	for _, c := range res.Changes {
		out.Changes = append(out.Changes, changeOf(c))
	}
	return out
}

// revisionOf converts a revision record for the wire.
func revisionOf(r store.Revision) apiclient.Revision {
	out := apiclient.Revision{Number: r.Number, Actor: r.Actor, Time: r.Time, Action: string(r.Action),
		RollbackTo: r.RollbackTo, Changes: make([]apiclient.Change, 0, len(r.Changes))}
	for _, c := range r.Changes {
		out.Changes = append(out.Changes, changeOf(c))
	}
	return out
}

func changeOf(c store.Change) apiclient.Change {
	out := apiclient.Change{Kind: c.Kind, Name: c.Name, Op: string(c.Op), Before: redact(c.Before), After: redact(c.After)}
	if c.Op != store.OpUnchanged {
		out.Diff = objectDiff(c.Ref().String(), c.Before, c.After)
	}
	return out
}

func redact(o api.Object) api.Object {
	if o == nil {
		return nil
	}
	return api.Redact(o)
}

// objectDiff is a unified diff of two versions of an object as YAML,
// redacted, without the metadata the store maintains (revision, times,
// author), which change every time and would only be noise.
func objectDiff(ref string, before, after api.Object) string {
	a, b := diffText(before, true), diffText(after, true)
	if a == b {
		if diffText(before, false) != diffText(after, false) {
			return fmt.Sprintf("--- %s\n+++ %s\n# only secret values changed (they are redacted)\n", ref, ref)
		}
		return ""
	}
	return unifiedDiff(ref, splitLines(a), splitLines(b))
}

func diffText(o api.Object, redacted bool) string {
	if o == nil {
		return ""
	}
	c := o.DeepCopyObject()
	if redacted {
		c = api.Redact(c)
	}
	md := c.GetMetadata()
	md.Revision, md.CreatedAt, md.UpdatedAt, md.UpdatedBy = 0, "", "", ""
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	return string(data)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
}

// edit is one line of a diff: ' ' kept, '-' removed, '+' added.
type edit struct {
	op   byte
	text string
}

// lineEdits computes a shortest edit script with a longest common
// subsequence table.
func lineEdits(a, b []string) []edit {
	n, m := len(a), len(b)
	if n*m > maxDiffCells {
		out := make([]edit, 0, n+m)
		for _, l := range a {
			out = append(out, edit{'-', l})
		}
		for _, l := range b {
			out = append(out, edit{'+', l})
		}
		return out
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	out := make([]edit, 0, n+m)
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, edit{' ', a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, edit{'-', a[i]})
			i++
		default:
			out = append(out, edit{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, edit{'-', a[i]})
	}
	for ; j < m; j++ {
		out = append(out, edit{'+', b[j]})
	}
	return out
}

// unifiedDiff formats the edits from a to b as hunks with context, like
// diff -u.
func unifiedDiff(name string, a, b []string) string {
	edits := lineEdits(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", name, name)
	// aAt[k] and bAt[k] count the lines of a and b before edit k.
	aAt, bAt := make([]int, len(edits)+1), make([]int, len(edits)+1)
	for k, e := range edits {
		aAt[k+1], bAt[k+1] = aAt[k], bAt[k]
		if e.op != '+' {
			aAt[k+1]++
		}
		if e.op != '-' {
			bAt[k+1]++
		}
	}
	for k := 0; k < len(edits); {
		if edits[k].op == ' ' {
			k++
			continue
		}
		start := max(k-diffContext, 0)
		end := hunkEnd(edits, k)
		writeHunk(&sb, edits[start:end], aAt[start], aAt[end], bAt[start], bAt[end])
		k = end
	}
	return sb.String()
}

// hunkEnd returns where the hunk containing the change at k ends: after
// the trailing context of its last change, where the next change is more
// than two contexts away.
func hunkEnd(edits []edit, k int) int {
	last := k
	for i := k; i < len(edits); i++ {
		if edits[i].op != ' ' {
			last = i
		} else if i-last > 2*diffContext {
			break
		}
	}
	return min(last+1+diffContext, len(edits))
}

func writeHunk(sb *strings.Builder, edits []edit, a0, a1, b0, b1 int) {
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", hunkRange(a0, a1-a0), hunkRange(b0, b1-b0))
	for _, e := range edits {
		sb.WriteByte(e.op)
		sb.WriteString(e.text)
		if !strings.HasSuffix(e.text, "\n") {
			sb.WriteByte('\n')
		}
	}
}

// hunkRange formats "start,len" the way diff -u does: an empty range
// starts at the line before it.
func hunkRange(before, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", before)
	}
	if n == 1 {
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}
