package route

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// (.*a){1000} is eleven characters that compile to 5,000 instructions:
// against a 60 KB header it cost 1.5 s of CPU per request. It is refused
// where it is written, with the position.
func TestCondition_CostlyRegexIsRefused(t *testing.T) {
	t.Parallel()
	for cond, want := range map[string]string{
		`request.header.X ~~ "(.*a){1000}"`:                       `at character 21: regular expression is too complex: it compiles to 5004 instructions, more than 256 (use fewer or smaller repetitions)`,
		`request.header.X ~~ "` + strings.Repeat("a", 1025) + `"`: `at character 21: the pattern of ~~ is longer than 1024 bytes`,
	} {
		_, err := parseCondition(cond)
		require.EqualError(t, err, want)
	}
}

// The costliest pattern allowed runs only on values within its budget: a
// 60 KB header does not match it, and is not scanned; a value within the
// budget is matched as usual.
func TestCondition_RegexRunsOnlyOnValuesWithinItsBudget(t *testing.T) {
	t.Parallel()
	c, err := parseCondition(`request.header.X ~~ "(.*a){50}"`)
	require.NoError(t, err)
	n := c.root.(*cmpNode)
	require.LessOrEqual(t, n.maxLen*regexCost(n.re.String()), regexBudget, "one match costs at most the budget")

	f := sampleFlow()
	f.r.Header.Set("X", strings.Repeat("a", 60000))
	require.False(t, c.eval(f), "a value beyond the budget never matches")
	f.r.Header.Set("X", strings.Repeat("a", n.maxLen))
	require.True(t, c.eval(f), "a value within it matches as it should")

	simple, err := parseCondition(`request.header.X ~~ ".*a.*"`)
	require.NoError(t, err)
	f.r.Header.Set("X", strings.Repeat("b", 20000)+"a")
	require.True(t, simple.eval(f), "a simple pattern may run on long values")
}

// BenchmarkCondition_CostliestRegex measures the worst a Condition's regex
// may cost per request: the costliest pattern allowed, against a 60 KB
// header (refused unscanned) and against the longest value it runs on.
func BenchmarkCondition_CostliestRegex(b *testing.B) {
	c, err := parseCondition(`request.header.X ~~ "(.*a){50}"`)
	if err != nil {
		b.Fatal(err)
	}
	n := c.root.(*cmpNode)
	for name, v := range map[string]string{
		"60KB-header":     strings.Repeat("a", 30000) + strings.Repeat("b", 30000),
		"longest-scanned": strings.Repeat("a", n.maxLen/2) + strings.Repeat("b", n.maxLen-n.maxLen/2),
	} {
		f := sampleFlow()
		f.r.Header.Set("X", v)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				c.eval(f)
			}
		})
	}
}
