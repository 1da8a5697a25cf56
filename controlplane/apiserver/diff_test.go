package apiserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func lines(s string) []string { return splitLines(s) }

func TestUnifiedDiff(t *testing.T) {
	var a, b []string
	for i := 1; i <= 20; i++ {
		a = append(a, fmt.Sprintf("line %d\n", i))
	}
	b = append(b, a...)
	b[1] = "line two\n"                                         // change near the start
	b = append(b[:15], append([]string{"new\n"}, b[15:]...)...) // insert after line 15
	b = b[:len(b)-1]                                            // drop the last line
	got := unifiedDiff("Pool/web", a, b)
	want := `--- Pool/web
+++ Pool/web
@@ -1,5 +1,5 @@
 line 1
-line 2
+line two
 line 3
 line 4
 line 5
@@ -13,8 +13,8 @@
 line 13
 line 14
 line 15
+new
 line 16
 line 17
 line 18
 line 19
-line 20
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("diff (-want +got):\n%s", diff)
	}
	if got := unifiedDiff("x", nil, lines("a\nb\n")); got != "--- x\n+++ x\n@@ -0,0 +1,2 @@\n+a\n+b\n" {
		t.Fatalf("creation:\n%s", got)
	}
	if got := unifiedDiff("x", lines("a\n"), nil); got != "--- x\n+++ x\n@@ -1 +0,0 @@\n-a\n" {
		t.Fatalf("deletion:\n%s", got)
	}
	// Too large for the table: a whole replacement, still correct.
	big := make([]string, 1100)
	for i := range big {
		big[i] = fmt.Sprintf("%d\n", i)
	}
	other := append([]string{"x\n"}, big[1:]...)
	if got := unifiedDiff("x", big, other); !strings.HasPrefix(got, "--- x\n+++ x\n@@ -1,1100 +1,1100 @@\n-0\n") {
		t.Fatalf("large diff starts:\n%.80s", got)
	}
}
