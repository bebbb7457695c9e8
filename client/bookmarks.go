package client

import (
	"context"

	"github.com/deskhub/deskhub/api/fastx"
)

// ListBookmarks answers the user's bookmarks, history and suggestions (/v3/api/bookmark/list).
func (c *Client) ListBookmarks(ctx context.Context) (fastx.BookmarkList, error) {
	return sessionCall[fastx.BookmarkList](ctx, c, request{path: "/v3/api/bookmark/list"})
}

// EditBookmark creates or replaces a bookmark (/v3/api/bookmark/edit).
func (c *Client) EditBookmark(ctx context.Context, b fastx.Bookmark) (fastx.BookmarkList, error) {
	return sessionCall[fastx.BookmarkList](ctx, c, request{path: "/v3/api/bookmark/edit", body: b})
}

// DeleteBookmark deletes a bookmark or a history entry (/v3/api/bookmark/delete).
func (c *Client) DeleteBookmark(ctx context.Context, id string) (fastx.BookmarkList, error) {
	return sessionCall[fastx.BookmarkList](ctx, c, request{path: "/v3/api/bookmark/delete", body: fastx.BookmarkRef{ID: id}})
}
