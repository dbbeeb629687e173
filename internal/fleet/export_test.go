package fleet

// SetPageSize changes the list page size for a test; the returned func
// restores it.
func SetPageSize(n int64) func() {
	old := pageSize
	pageSize = n
	return func() { pageSize = old }
}
