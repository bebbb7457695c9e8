package server

import "github.com/deskhub/deskhub/internal/apidoc"

// openAPIJSON renders the OpenAPI document of every routed endpoint.
func (s *Server) openAPIJSON() ([]byte, error) {
	doc, err := apidoc.Build(apidoc.Info{
		Title:   "deskhub",
		Version: s.build.Version,
		Description: "deskhub's three API surfaces: the infrastructure manager (POST /api/v1/<resource>.<action>, " +
			"JSON:API), the session broker (/v3/api/…, FastX v3) and the desktop agent proxied at " +
			"/spawner/{session_id}/… (Spawner v1). Operations marked x-deskhub-planned answer 501 until the " +
			"named work lands.",
	}, s.Routes())
	if err != nil {
		return nil, err
	}
	return apidoc.JSON(doc)
}
