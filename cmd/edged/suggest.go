package main

import "github.com/edged-gateway/edged/internal/editdist"

// suggest returns the candidate closest to word when it is a likely typo
// (edit distance at most 2, or at most a third of the word), or "".
func suggest(word string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editdist.Distance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if l := len([]rune(word)) / 3; l < limit {
		limit = max(l, 1)
	}
	if bestD > limit {
		return ""
	}
	return best
}

// didYouMean is ` (did you mean "x"?)` for a likely typo, or "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return ` (did you mean "` + s + `"?)`
	}
	return ""
}
