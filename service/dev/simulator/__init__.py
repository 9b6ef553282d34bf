"""The provider simulator: the slice of Twilio's and SendGrid's APIs Herald uses."""
