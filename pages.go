package keyplane

// Page sizes of every list: the default and the most one page may hold.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageSize checks a requested page size: 0 means the default, and a size
// above the maximum is lowered to it, as Google APIs do.
func PageSize(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0:
		return 0, Errorf(InvalidArgument, "pageSize must not be negative")
	case n > MaxPageSize:
		return MaxPageSize, nil
	default:
		return n, nil
	}
}

// Page cuts a result fetched with one row more than size down to size, and
// returns the token of the next page (made from the last row kept), empty
// when that extra row was not there: the last page.
func Page[T any](rows []T, size int, token func(T) string) ([]T, string) {
	if len(rows) <= size {
		return rows, ""
	}
	rows = rows[:size]
	return rows, token(rows[size-1])
}
