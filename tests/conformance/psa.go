package conformance

import (
	"sync"

	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

var evaluator = sync.OnceValues(func() (policy.Evaluator, error) {
	return policy.NewEvaluator(policy.DefaultChecks())
})

// PodSecurityRestricted evaluates obj's pod template (Deployment, StatefulSet, DaemonSet, Job,
// CronJob) against the latest "restricted" Pod Security Standard with the same code the
// PodSecurity admission plugin runs, so a namespace enforcing "restricted" admits the pods.
// Other kinds yield nothing.
func PodSecurityRestricted(obj Object) []error {
	w, ok := podTemplate(obj)
	if !ok {
		return nil
	}
	eval, err := evaluator()
	if err != nil {
		return []error{problemf(obj, "pod security evaluator: %v", err)}
	}
	level := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
	var errs []error
	for _, r := range eval.EvaluatePod(level, &w.template.ObjectMeta, &w.template.Spec) {
		if !r.Allowed {
			errs = append(errs, problemf(obj, "violates PodSecurity \"restricted\": %s (%s)", r.ForbiddenReason, r.ForbiddenDetail))
		}
	}
	return errs
}
