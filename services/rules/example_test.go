package rules_test

import (
	"fmt"
	"time"

	"github.com/edged-gateway/edged/services/rules"
)

func Example() {
	cfg, err := rules.DecodeConfig([]byte(`
rules:
  - name: fan-on
    when: {device: porch, metric: temperature, above: 30, for: 2m}
    then: {command: {device: fan-relay, action: set, value: on}}
    clear:
      below: 28
      then: {command: {device: fan-relay, action: set, value: off}}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := rules.New(cfg)
	t0 := time.Date(2025, 7, 1, 14, 0, 0, 0, time.UTC)
	for i, v := range []float64{30.5, 31, 31.5, 29.9, 27.5} {
		t := t0.Add(time.Duration(i) * time.Minute)
		_, cmds := s.Process([]rules.Reading{{Device: "porch", Metric: "temperature", Value: v, Time: t}}, t)
		for _, c := range cmds {
			fmt.Printf("%s %s %s %v\n", t.Format("15:04"), c.Device, c.Action, c.Value)
		}
	}
	// Output:
	// 14:02 fan-relay set on
	// 14:04 fan-relay set off
}
