package layering

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureDocIsSelfContained: docs/ARCHITECTURE.md names no file
// outside the repository (it once pointed at a design file a user of the
// repository does not have), and every file it links to exists.
func TestArchitectureDocIsSelfContained(t *testing.T) {
	const doc = "../../docs/ARCHITECTURE.md"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, outside := range []string{"../shared", "DESIGN.md", "(outside the repo)"} {
		if strings.Contains(text, outside) {
			t.Errorf("docs/ARCHITECTURE.md refers to %q, outside the repository: say it in the file", outside)
		}
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#]+)(#[^)]*)?\)`).FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") {
			continue
		}
		path := filepath.Join(filepath.Dir(doc), target)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("docs/ARCHITECTURE.md links to %s, which is not in the repository: %v", target, err)
		} else if rel, err := filepath.Rel("../..", path); err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("docs/ARCHITECTURE.md links to %s, outside the repository", target)
		}
	}
}
