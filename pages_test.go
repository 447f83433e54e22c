package keyplane

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPageSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{0: 100, 1: 1, 1000: 1000, 5000: 1000} {
		got, err := PageSize(in)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	_, err := PageSize(-1)
	require.EqualError(t, err, "INVALID_ARGUMENT: pageSize must not be negative")
}

func TestPage(t *testing.T) {
	t.Parallel()
	token := func(n int) string { return strconv.Itoa(n) }
	rows, next := Page([]int{1, 2, 3}, 2, token)
	require.Equal(t, []int{1, 2}, rows)
	require.Equal(t, "2", next)
	rows, next = Page([]int{1, 2}, 2, token)
	require.Equal(t, []int{1, 2}, rows)
	require.Empty(t, next)
}
