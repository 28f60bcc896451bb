package tensor

import "testing"

// Every op that can be recorded has a name and a backward rule, and the
// names are unique: adding an op constant without its derivative fails
// here (AccumulateGrad and Custom are run by the engine itself).
func TestEveryRecordedOpHasARule(t *testing.T) {
	seen := map[string]opID{}
	for id := opClone; id < numOps; id++ {
		def := ops[id]
		if def.name == "" {
			t.Errorf("op %d has no entry in the ops table", id)
			continue
		}
		if !hasRule(id) {
			t.Errorf("op %s has no backward rule", def.name)
		}
		if prev, dup := seen[def.name]; dup {
			t.Errorf("ops %d and %d are both named %s", prev, id, def.name)
		}
		seen[def.name] = id
	}
	if len(DifferentiableOps()) != int(numOps-opClone) {
		t.Errorf("DifferentiableOps lists %d ops, the table has %d", len(DifferentiableOps()), numOps-opClone)
	}
}
