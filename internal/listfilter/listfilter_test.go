package listfilter

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
)

var fields = []string{"done", "metadata.state", "labels."}

func TestParse_ReadsComparisonsJoinedByAnd(t *testing.T) {
	conds, err := Parse(`done = true AND metadata.state="FINISHED" AND labels.team = "a b\"c"`, fields)
	require.NoError(t, err)
	require.Equal(t, []Cond{{"done", "true"}, {"metadata.state", "FINISHED"}, {"labels.team", `a b"c`}}, conds)
	conds, err = Parse("  ", fields)
	require.NoError(t, err)
	require.Empty(t, conds)
}

func TestParse_NamesWhatIsNotSupported(t *testing.T) {
	for _, tc := range []struct{ filter, want string }{
		{`name = "x"`, `filter "name = \"x\"": "name" is not supported: the fields this list filters on are done, metadata.state, labels.`},
		{`labels. = "x"`, `filter "labels. = \"x\"": "labels." is not supported: the fields this list filters on are done, metadata.state, labels.`},
		{`done != true`, `filter "done != true": "!=" is not supported: only "=" is supported`},
		{`done:true`, `filter "done:true": ":" is not supported: only "=" is supported`},
		{`done = true OR done = false`, `filter "done = true OR done = false": "OR" is not supported: only comparisons joined by AND are supported`},
		{`(done = true)`, `filter "(done = true)": "(" is not supported: the fields this list filters on are done, metadata.state, labels.`},
		{`done =`, `filter "done =" is invalid: a comparison "field = value" is incomplete`},
		{`done = = x`, `filter "done = = x" is invalid: a value is missing after "done ="`},
		{`labels.a = "x`, `filter "labels.a = \"x" is invalid: a quoted value is not closed`},
		{`done = true;`, `filter "done = true;": ";" is not supported: it is not part of the supported filter syntax`},
	} {
		_, err := Parse(tc.filter, fields)
		require.Error(t, err, tc.filter)
		require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err))
		require.Equal(t, tc.want, keyplane.ErrorMessage(err), tc.filter)
	}
}

func TestBool(t *testing.T) {
	b, err := Bool("f", Cond{"done", "false"})
	require.NoError(t, err)
	require.False(t, b)
	_, err = Bool("f", Cond{"done", "yes"})
	require.Equal(t, `filter "f" is invalid: "done" is true or false, not "yes"`, keyplane.ErrorMessage(err))
}
