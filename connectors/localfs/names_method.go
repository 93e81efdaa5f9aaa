package localfs

// CheckName implements sync.LocalFolder with the package's CheckName.
func (f *Folder) CheckName(path string) error { return CheckName(path) }

// FoldKey implements sync.LocalFolder with the package's FoldKey.
func (f *Folder) FoldKey(path string) string { return FoldKey(path) }
