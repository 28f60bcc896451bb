package main

import (
	"math"
	"math/rand/v2"
)

// CartPole is the classic cart-and-pole balancing task of Barto, Sutton
// and Anderson (1983) with the constants and update rule of OpenAI Gym's
// CartPole-v1: a pole hinged on a cart that a force of ±10 N pushes left
// or right every 0.02 s, integrated with the explicit Euler method. The
// episode terminates when the pole leans more than 12° or the cart leaves
// ±2.4 m, and is truncated after 500 steps. Every step, the last one
// included, earns a reward of 1, so an episode's return is its length.
const (
	gravity        = 9.8
	massCart       = 1.0
	massPole       = 0.1
	totalMass      = massCart + massPole
	length         = 0.5 // half the pole's length
	poleMassLength = massPole * length
	forceMag       = 10.0
	tau            = 0.02 // seconds between state updates
	maxSteps       = 500  // CartPole-v1's time limit
)

var (
	thetaThreshold = 12 * 2 * math.Pi / 360
	xThreshold     = 2.4
)

// state is (x, ẋ, θ, θ̇): the cart's position and velocity and the pole's
// angle from upright (radians, positive clockwise) and angular velocity.
type state [4]float64

// dynamics returns the state tau seconds later when action 1 pushes the
// cart right (0 pushes it left): the equations of motion of Florian's
// "Correct equations for the dynamics of the cart-pole system" without
// friction, as Gym writes them, integrated by one Euler step.
func dynamics(s state, action int) state {
	x, xDot, theta, thetaDot := s[0], s[1], s[2], s[3]
	force := -forceMag
	if action == 1 {
		force = forceMag
	}
	cos, sin := math.Cos(theta), math.Sin(theta)
	temp := (force + poleMassLength*thetaDot*thetaDot*sin) / totalMass
	thetaAcc := (gravity*sin - cos*temp) / (length * (4.0/3.0 - massPole*cos*cos/totalMass))
	xAcc := temp - poleMassLength*thetaAcc*cos/totalMass
	return state{
		x + tau*xDot,
		xDot + tau*xAcc,
		theta + tau*thetaDot,
		thetaDot + tau*thetaAcc,
	}
}

// failed reports whether s is outside the allowed region.
func failed(s state) bool {
	return s[0] < -xThreshold || s[0] > xThreshold || s[2] < -thetaThreshold || s[2] > thetaThreshold
}

// cartPole is one episode of the environment.
type cartPole struct {
	s     state
	steps int
	rng   *rand.Rand
}

func newCartPole(rng *rand.Rand) *cartPole { return &cartPole{rng: rng} }

// reset starts an episode from a state drawn uniformly from ±0.05 in each
// coordinate, as Gym does, and returns it.
func (c *cartPole) reset() state {
	for i := range c.s {
		c.s[i] = c.rng.Float64()*0.1 - 0.05
	}
	c.steps = 0
	return c.s
}

// step applies action and returns the new state, the reward, whether the
// pole fell or the cart left the track (terminated) and whether the time
// limit ended the episode (truncated).
func (c *cartPole) step(action int) (s state, reward float64, terminated, truncated bool) {
	c.s = dynamics(c.s, action)
	c.steps++
	terminated = failed(c.s)
	truncated = !terminated && c.steps >= maxSteps
	return c.s, 1, terminated, truncated
}
