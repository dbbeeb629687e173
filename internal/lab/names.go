package lab

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// Cluster API's generated-name alphabet (utilrand in apimachinery: no vowels,
// no confusable characters).
const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func randomSuffix(n int) string {
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(nameAlphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		b[i] = nameAlphabet[v.Int64()]
	}
	return string(b)
}

// machineSetHash looks like the template hash in a MachineSet name.
func machineSetHash() string {
	v, err := rand.Int(rand.Reader, big.NewInt(1<<36))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%09x", v.Int64())
}

// vsphereUUID renders a BIOS UUID in the form of vSphere provider IDs.
func vsphereUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
