package httpapi

import (
	"strings"

	"github.com/deskhub/deskhub/api/spawner"
)

// SpawnerRoutes makes the agent surface's route table from the Spawner endpoint table (api/spawner), in
// the seed's order, under prefix ("" for the agent itself, "/spawner/{session_id}" for the broker). op
// gives each endpoint's operation; access is who may call them (the broker checks tokens, the agent
// trusts its socket, which only the broker reaches).
func SpawnerRoutes(prefix string, access Access, op func(e spawner.AnyEndpoint) Operation) []Route {
	prefix = strings.TrimSuffix(prefix, "/")
	var routes []Route
	for _, e := range spawner.Endpoints() {
		s := e.Describe()
		routes = append(routes, Route{
			Surface: Agent,
			Methods: []string{s.Method},
			Path:    prefix + s.Path,
			Summary: s.Summary,
			Access:  access,
			Op:      op(e),
			Tag:     s.Tag,
			Seed:    s.Seed(),
		})
	}
	return routes
}
