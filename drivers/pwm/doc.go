// Package pwm is the "pwm" device kind: a hardware PWM output on one GPIO
// pin driving a fan, a dimmable LED, a heater's solid-state relay or a
// servo.
//
// It is an actuator. {"action": "set", "value": 0.4} sets the duty cycle, a
// fraction from 0 to 1 within options.min_duty..max_duty; when
// options.min_frequency and max_frequency allow a range, {"action":
// "frequency", "value": 20000} (or "20kHz") changes the frequency too.
// Check validates a command without touching the pin; Do applies it. The
// output starts at its safe duty (options.safe_duty, default min_duty) the
// moment New returns, and Safe puts it back there.
//
// The pin must support hardware PWM through periph's gpio.PinOut.PWM. Many
// hosts do not: periph's sysfs and gpioioctl GPIO drivers return an error,
// as does a Raspberry Pi pin other than GPIO12/13/18/19 without periph's
// DMA driver. New then fails with that error and a hint, since an actuator
// that cannot reach its safe state must not run.
//
// Read reports the duty the driver last applied successfully as metric
// "duty", a fraction from 0 to 1.
package pwm
