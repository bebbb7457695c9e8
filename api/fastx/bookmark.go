package fastx

// Bookmark is a saved way to start a session; also the body of /v3/api/bookmark/edit.
type Bookmark struct {
	ID       string   `json:"id" required:"true" doc:"bookmark id"`
	Command  string   `json:"command" required:"true" doc:"command to execute"`
	Name     string   `json:"name,omitempty" doc:"bookmark display name"`
	Geometry string   `json:"geometry,omitempty" doc:"geometry of the bookmark: WIDTHxHEIGHT or rootless"`
	Tags     []string `json:"tags,omitempty" doc:"tag strings"`
}

// Validate checks the geometry.
func (b *Bookmark) Validate() error { return checkGeometry("geometry", b.Geometry) }

// BookmarkList is the answer of bookmark/list, bookmark/edit and bookmark/delete.
type BookmarkList struct {
	Suggestions []Bookmark `json:"suggestions" doc:"global bookmarks"`
	Bookmarks   []Bookmark `json:"bookmarks" doc:"user defined bookmarks"`
	History     []Bookmark `json:"history" doc:"recently started sessions"`
}
