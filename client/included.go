package client

import (
	"encoding/json"
	"fmt"

	"github.com/deskhub/deskhub/api/jsonapi"
)

// Included answers the resources of type typ among a document's included ones (the account a login
// answers, say: Included[vmm.UserAttributes](doc.Included, vmm.TypeUser)), their attributes decoded as A.
func Included[A any](included []jsonapi.Resource[any], typ string) ([]jsonapi.Resource[A], error) {
	var out []jsonapi.Resource[A]
	for _, r := range included {
		if r.Type != typ {
			continue
		}
		raw, err := json.Marshal(r.Attributes)
		if err != nil {
			return nil, fmt.Errorf("client: included %s %s: %w", typ, r.ID, err)
		}
		res := jsonapi.Resource[A]{Type: r.Type, ID: r.ID, Relationships: r.Relationships}
		if err := json.Unmarshal(raw, &res.Attributes); err != nil {
			return nil, fmt.Errorf("client: included %s %s: %w", typ, r.ID, err)
		}
		out = append(out, res)
	}
	return out, nil
}
