package stripedouble

import "strings"

// The hosted checkout page speaks the session's locale, as Stripe Checkout does: French for
// "fr" (and its regional forms), English otherwise. Messages the double composes in English
// (declines, expiry) are said in the page's language when it knows them.

// checkoutWords are the page's labels and buttons in one language. PayFor and ConfirmPayment
// take the item and the amount.
type checkoutWords struct {
	Title, Banner, Unavailable, ReturnToSite              string
	ChallengeTitle, ConfirmCard, ConfirmPayment, Approve  string
	Fail, SaveTitle, SaveExplain, PayFor, Pay, CardNumber string
	PickCard, SaveCard, Back                              string
	Cards                                                 map[string]string
	Messages                                              map[string]string
}

// say is msg in the page's language when the catalogue has it, as it is otherwise.
func (w checkoutWords) say(msg string) string {
	if t, ok := w.Messages[msg]; ok {
		return t
	}
	return msg
}

// checkoutLang is the page's language for a session's locale ("auto" and unknown ones: English).
func checkoutLang(locale string) string {
	if l := strings.ToLower(locale); l == "fr" || strings.HasPrefix(l, "fr-") {
		return "fr"
	}
	return "en"
}

var checkoutText = map[string]checkoutWords{
	"en": {
		Title: "Checkout · Stripe test mode (offline)", Banner: "Stripe test mode — offline double. No real card is charged.",
		Unavailable: "Checkout unavailable", ReturnToSite: "Return to the site",
		ChallengeTitle: "3-D Secure authentication", ConfirmCard: "Your bank asks you to confirm this card.",
		ConfirmPayment: "Your bank asks you to confirm this payment of %s.", Approve: "Complete authentication", Fail: "Fail authentication",
		SaveTitle: "Save your card", SaveExplain: "Your card is saved now and charged later; nothing is charged today.",
		PayFor: "Pay for %s", Pay: "Pay", CardNumber: "Card number", PickCard: "Or pick a test card", SaveCard: "Save card",
		Back: "← Back, without paying",
		Cards: map[string]string{"4242424242424242": "succeeds", "4000002760003184": "asks for 3-D Secure",
			"4000000000000341": "saves, later charges decline", "4000000000000002": "declined", "4000000000009995": "insufficient funds"},
	},
	"fr": {
		Title: "Paiement · Stripe en mode test (hors ligne)", Banner: "Stripe en mode test — simulation hors ligne. Aucune vraie carte n’est débitée.",
		Unavailable: "Paiement indisponible", ReturnToSite: "Revenir au site",
		ChallengeTitle: "Authentification 3-D Secure", ConfirmCard: "Votre banque vous demande de confirmer cette carte.",
		ConfirmPayment: "Votre banque vous demande de confirmer ce paiement de %s.", Approve: "Terminer l’authentification", Fail: "Faire échouer l’authentification",
		SaveTitle: "Enregistrez votre carte", SaveExplain: "Votre carte est enregistrée maintenant et débitée plus tard ; rien n’est débité aujourd’hui.",
		PayFor: "Payer : %s", Pay: "Payer", CardNumber: "Numéro de carte", PickCard: "Ou choisissez une carte de test", SaveCard: "Enregistrer la carte",
		Back: "← Retour, sans payer",
		Cards: map[string]string{"4242424242424242": "acceptée", "4000002760003184": "demande 3-D Secure",
			"4000000000000341": "enregistrée, débits refusés ensuite", "4000000000000002": "refusée", "4000000000009995": "fonds insuffisants"},
		Messages: map[string]string{
			"Your card was declined.":                              "Votre carte a été refusée.",
			"Your card has insufficient funds.":                    "Les fonds de votre carte sont insuffisants.",
			"Your card has expired.":                               "Votre carte a expiré.",
			"Your card number is incorrect.":                       "Le numéro de votre carte est incorrect.",
			"This checkout session has expired.":                   "Cette session de paiement a expiré.",
			"This checkout page does not exist.":                   "Cette page de paiement n’existe pas.",
			"There is no authentication waiting on this checkout.": "Aucune authentification n’est en attente pour ce paiement.",
			authFailed: "Nous ne parvenons pas à authentifier votre moyen de paiement. Choisissez-en un autre et réessayez.",
		},
	},
}
