"""Raw merchant catalog: groups of ``(group, pfc_detailed, mcc, amount_lo, amount_hi, weight,
style, recurring, entries)``; ``entries`` is ``;``-separated ``Name[@MCC][|template...]`` (no
templates: the style's defaults). Recurring groups are billed monthly, not drawn as purchases.
Expanded by :mod:`merchants`; placeholders are documented in :func:`merchants.render`.
"""

from __future__ import annotations

GroupSpec = tuple[str, str, str, float, float, float, str, bool, str]

GROUPS: tuple[GroupSpec, ...] = (
    ("coffee", "FOOD_AND_DRINK_COFFEE", "5814", 3.25, 14.0, 10.0, "sq", False,
     "Starbucks|STARBUCKS STORE {n5} {CITY} {ST}|STARBUCKS {n5} {CITY} {ST}|CHECKCARD {MMDD} "
     "STARBUCKS STORE {n5} {CITY} {ST}; Blue Bottle Coffee|SQ *BLUE BOTTLE {n4} {CITY} {ST}|BLUE "
     "BOTTLE COFFEE {CITY} {ST}; Peet's Coffee; Dunkin'|DUNKIN #{n6} {CITY} {ST}|POS DEBIT {n4} "
     "DUNKIN #{n6}; Philz Coffee; Dutch Bros Coffee; Tim Hortons; Caribou Coffee; Intelligentsia "
     "Coffee; La Colombe Coffee; Sightglass Coffee; Stumptown Coffee Roasters; Joe & The Juice; "
     "The Coffee Bean & Tea Leaf"),
    ("fast_food", "FOOD_AND_DRINK_FAST_FOOD", "5814", 5.0, 28.0, 10.0, "pos", False,
     "McDonald's|MCDONALD'S F{n5} {CITY} {ST}|POS DEBIT {n4} MCDONALD'S F{n5}; Burger King; "
     "Wendy's; Taco Bell; Chick-fil-A|CHICK-FIL-A #{n5} {CITY} {ST}; Chipotle Mexican "
     "Grill|CHIPOTLE {n4} {CITY} {ST}|CHIPOTLE ONLINE {PHONE} {ST}; Subway; Five Guys; In-N-Out "
     "Burger; Shake Shack; Panda Express; Popeyes Louisiana Kitchen; KFC; Jack in the Box; Sonic "
     "Drive-In; Arby's; Domino's|DOMINO'S {n4} {PHONE} {ST}; Pizza Hut; Papa John's; Jimmy "
     "John's; Panera Bread; Wingstop; Sweetgreen|SWEETGREEN {CITY} {ST}; Qdoba Mexican Eats"),
    ("restaurant", "FOOD_AND_DRINK_RESTAURANT", "5812", 18.0, 140.0, 8.0, "tst", False, "The "
     "Cheesecake Factory; Olive Garden; Applebee's; Chili's Grill & Bar; Texas Roadhouse; Red "
     "Lobster; P.F. Chang's; Outback Steakhouse; Buffalo Wild Wings; IHOP; Denny's; Cracker "
     "Barrel; Zuni Cafe; Tartine Bakery; State Bird Provisions; Nopa; Tacolicious; Kin Khao; "
     "Burma Superstar; Ippudo; Le Pain Quotidien; Nando's PERi-PERi"),
    ("delivery", "FOOD_AND_DRINK_RESTAURANT", "5814", 14.0, 75.0, 4.0, "web", False, "DoorDash|DD "
     "*DOORDASH {TOK2} {PHONE} CA|DOORDASH*{TOK2} SAN FRANCISCO CA|DD *DOORDASH DASHPASS {PHONE} "
     "CA; Uber Eats|UBER *EATS {a6} HELP.UBER.COM CA|UBER EATS {PHONE} CA; Grubhub|GRUBHUB*{TOK2} "
     "{PHONE} IL; Postmates|POSTMATES {a6} {PHONE} CA; Caviar|CAVIAR*{TOK2} SAN FRANCISCO CA"),
    ("liquor", "FOOD_AND_DRINK_BEER_WINE_AND_LIQUOR", "5921", 12.0, 90.0, 1.5, "pos", False,
     "BevMo!; Total Wine & More; Spec's Wines Spirits; Binny's Beverage Depot; ABC Fine Wine & "
     "Spirits; Drizly|DRIZLY* {TOK2} {PHONE} MA"),
    ("vending", "FOOD_AND_DRINK_VENDING_MACHINES", "5814", 1.25, 6.0, 0.5, "pos", False, "Canteen "
     "Vending|CANTEEN VENDING {n6} {CITY} {ST}|USA*CANTEEN VENDING {CITY} {ST}; Five Star Food "
     "Service|USA*FIVE STAR FOOD SVC {CITY} {ST}"),
    ("other_food", "FOOD_AND_DRINK_OTHER_FOOD_AND_DRINK", "5814", 3.0, 18.0, 1.5, "pos", False,
     "Cinnabon; Auntie Anne's; Krispy Kreme; Baskin-Robbins; Jamba; Smoothie King"),
    ("groceries", "FOOD_AND_DRINK_GROCERIES", "5411", 9.0, 210.0, 12.0, "pos", False,
     "Safeway|SAFEWAY #{n4} {CITY} {ST}|SAFEWAY STORE {n4} {CITY} {ST}|POS DEBIT {n4} SAFEWAY "
     "#{n4}; Whole Foods Market|WHOLEFDS {a3} {n5} {CITY} {ST}|WHOLE FOODS MARKET {n5} {CITY} "
     "{ST}; Trader Joe's|TRADER JOE S #{n3} {CITY} {ST}|TRADER JOE'S #{n3} QPS {CITY} {ST}; "
     "Kroger; Albertsons; Publix|PUBLIX #{n4} {CITY} {ST}; H-E-B|H-E-B #{n3} {CITY} {ST}; "
     "Wegmans; Sprouts Farmers Market; Aldi; Lidl; Food Lion; Giant Eagle; Stop & Shop; Ralphs; "
     "Vons; Meijer; Hy-Vee; Harris Teeter; Raley's; Mollie Stone's Markets; Key Food; Gristedes; "
     "Instacart|INSTACART*{a6} {PHONE} CA|INSTACART HTTPSINSTACAR CA; Amazon Fresh|AMAZON "
     "FRESH*{a9} SEATTLE WA"),
    ("gas", "TRANSPORTATION_GAS", "5541", 18.0, 85.0, 6.0, "gas", False, "Shell|SHELL OIL {n11} "
     "{CITY} {ST}|SHELL SERVICE STATION {CITY} {ST}; Chevron|CHEVRON {n7} {CITY} "
     "{ST}|CHEVRON/{TOK2} {CITY} {ST}; ExxonMobil|EXXON {TOK2} {CITY} {ST}|POS DEBIT {n4} EXXON "
     "{n2}|EXXONMOBIL {n8} {CITY} {ST}; BP; Arco|ARCO #{n5} AMPM {CITY} {ST}|ARCO PAYPOINT {n6} "
     "{CITY} {ST}; Valero; Speedway; Marathon Petro; Sunoco; Wawa; QuikTrip; Sheetz; Costco "
     "Gas|COSTCO GAS #{n4} {CITY} {ST}; Phillips 66; Casey's; RaceTrac; Love's Travel Stop"),
    ("convenience", "GENERAL_MERCHANDISE_CONVENIENCE_STORES", "5499", 2.5, 25.0, 2.0, "pos", False,
     "7-Eleven|7-ELEVEN {n5} {CITY} {ST}|7-ELEVEN {n8}; Circle K; Cumberland Farms; Kwik Trip; "
     "Royal Farms"),
    ("rideshare", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", "4121", 7.0, 65.0, 4.0, "web", False,
     "Uber|UBER *TRIP {a4} HELP.UBER.COM CA|UBER *TRIP {a6} {PHONE} CA|UBER   *TRIP "
     "HELP.UBER.COM; Lyft|LYFT   *RIDE {DOW} {n1}{a2} {PHONE} CA|LYFT *RIDE {DOW} {n2}AM SAN "
     "FRANCISCO CA; Curb|CURB SVC {PHONE} NY; Yellow Cab|YELLOW CAB {n4} {CITY} {ST}; Via|VIA "
     "{a6} NEW YORK NY"),
    ("transit", "TRANSPORTATION_PUBLIC_TRANSIT", "4111", 2.5, 60.0, 3.0, "pos", False,
     "Clipper|CLIPPER SYSTEMS {PHONE} CA|CLIPPER SERVICE CONCORD CA; BART|BART-{TOK2} OAKLAND CA; "
     "MTA|MTA*NYCT PAYGO NEW YORK NY|MTA*METROCARD MACHINE {CITY} NY; Caltrain|CALTRAIN TVM {n5} "
     "SAN CARLOS CA; WMATA|WMATA-SMARTRIP {PHONE} DC; Ventra|VENTRA {PHONE} IL"),
    ("parking", "TRANSPORTATION_PARKING", "7523", 3.0, 45.0, 2.0, "web", False,
     "SpotHero|SPOTHERO {PHONE} IL; ParkMobile|PARKMOBILE {n6} {PHONE} GA; SFMTA Parking "
     "Meter|SFMTA PAYBYPHONE {PHONE} CA; LAZ Parking|LAZ PARKING {n6} {CITY} {ST}; ABM Parking; "
     "ParkWhiz|PARKWHIZ INC {PHONE} IL"),
    ("tolls", "TRANSPORTATION_TOLLS", "4784", 5.0, 60.0, 1.0, "bill", False, "FasTrak|FASTRAK CSC "
     "{PHONE} CA; E-ZPass|E-ZPASS NY REBILL {PHONE} NY; SunPass|SUNPASS*ACC{n8} {PHONE} FL; "
     "TxTag|TXTAG ONLINE {PHONE} TX"),
    ("bikes", "TRANSPORTATION_BIKES_AND_SCOOTERS", "4121", 1.5, 15.0, 0.5, "web", False,
     "Lime|LIME*RIDE {a4} {PHONE} CA|LIME*4 RIDES {a4} SAN FRANCISCO CA; Bird|BIRD APP*{a6} "
     "{PHONE} CA; Citi Bike|CITI BIKE {PHONE} NY; Bay Wheels|LYFT *BAY WHEELS {PHONE} CA"),
    ("ev_charging", "TRANSPORTATION_OTHER_TRANSPORTATION", "5552", 6.0, 45.0, 0.5, "web", False,
     "Tesla Supercharger|TESLA SUPERCHARGER US {PHONE} CA; ChargePoint|CHARGEPOINT {PHONE} CA; "
     "EVgo|EVGO SERVICES {PHONE} CA"),
    ("airlines", "TRAVEL_FLIGHTS", "4511", 89.0, 680.0, 0.4, "web", False, "United "
     "Airlines@3000|UNITED {n13} {PHONE} TX|UNITED AIRLINES {n13} HOUSTON TX; American "
     "Airlines@3001|AMERICAN AIR{n10} FORT WORTH TX; Delta Air Lines@3058|DELTA AIR {n13} "
     "DELTA.COM CA; Southwest Airlines@3066|SOUTHWES {n10} {PHONE} TX; JetBlue "
     "Airways@3174|JETBLUE {n13} SALT LAKE CTYUT; Alaska Airlines@3256|ALASKA AIR {n10} SEATTLE "
     "WA; Spirit Airlines; Frontier Airlines; Hawaiian Airlines"),
    ("lodging", "TRAVEL_LODGING", "7011", 120.0, 900.0, 0.4, "web", False, "Marriott|MARRIOTT "
     "{TOK2} {CITY} {ST}; Hilton|HILTON HOTELS {CITY} {ST}|HAMPTON INN {CITY} {ST}; Hyatt|HYATT "
     "REGENCY {CITY} {ST}; Airbnb@4722|AIRBNB * HM{a8} {PHONE} CA|AIRBNB HMT{a7} SAN FRANCISCO "
     "CA; Holiday Inn; Best Western; Motel 6; Four Seasons; Booking.com@4722|BOOKING.COM HOTEL "
     "{PHONE} NLD"),
    ("rental_cars", "TRAVEL_RENTAL_CARS", "7512", 45.0, 520.0, 0.2, "pos", False,
     "Hertz@3357|HERTZ RENT-A-CAR {CITY} {ST}; Enterprise Rent-A-Car@3405|ENTERPRISE RENT-A-CAR "
     "{CITY} {ST}; Avis@3389|AVIS RENT A CAR {CITY} {ST}; Budget Rent A Car; National Car Rental; "
     "Turo|TURO INC {PHONE} CA"),
    ("other_travel", "TRAVEL_OTHER_TRAVEL", "4722", 25.0, 450.0, 0.2, "web", False,
     "Expedia|EXPEDIA {n13} EXPEDIA.COM WA; Priceline|PRICELINE*{a8} {PHONE} CT; Viator|VIATOR "
     "TOURS {PHONE} NV; Amtrak@4112|AMTRAK .COM {n10} WASHINGTON DC; TripAdvisor"),
    ("streaming", "ENTERTAINMENT_TV_AND_MOVIES", "4899", 6.99, 22.99, 6.0, "web", True,
     "Netflix|NETFLIX.COM LOS GATOS CA|NETFLIX.COM {PHONE} CA; Hulu|HULU {n9} "
     "HULU.COM/BILLCA|HLU*HULU {n9}-U HULU.COM/BILLCA; Disney+|DISNEY PLUS {PHONE} CA|DISNEYPLUS "
     "BURBANK CA; Max|MAX.COM {PHONE} NY|HBO MAX HELPMAX.COM NY; Peacock|PEACOCK {a8} PREMIUM NEW "
     "YORK NY; Paramount+|PARAMOUNT+ {PHONE} CA; YouTube TV|GOOGLE *YOUTUBE TV G.CO/HELPPAY# CA; "
     "Apple TV+|APPLE.COM/BILL {PHONE} CA; Sling TV"),
    ("movies", "ENTERTAINMENT_TV_AND_MOVIES", "7832", 12.0, 48.0, 0.8, "pos", False, "AMC "
     "Theatres|AMC {n4} ONLINE {PHONE} KS|AMC METREON 16 #{n4} {CITY} {ST}; Regal Cinemas|REGAL "
     "{TOK2} {CITY} {ST}; Cinemark; Alamo Drafthouse|ALAMO DRAFTHOUSE {CITY} {ST}"),
    ("music", "ENTERTAINMENT_MUSIC_AND_AUDIO", "5815", 4.99, 16.99, 5.0, "web", True,
     "Spotify|SPOTIFY USA {PHONE} NY|Spotify P{a9} Stockholm SE; Apple Music|APPLE.COM/BILL ONE "
     "APPLE PARK WAY CA; Pandora|PANDORA*{a6} {PHONE} CA; SiriusXM|SIRIUSXM RADIO {PHONE} NY; "
     "Audible|AUDIBLE*{a9} AMZN.COM/BILLNJ; Tidal|TIDAL.COM {PHONE} NY"),
    ("video_games", "ENTERTAINMENT_VIDEO_GAMES", "5816", 4.99, 69.99, 0.6, "web", False,
     "Steam|STEAMGAMES.COM {n10} {PHONE} WA|STEAM PURCHASE {n9} WA; PlayStation "
     "Network|PlayStation Network {PHONE} CA; Xbox|MICROSOFT*XBOX {PHONE} WA; Nintendo "
     "eShop|NINTENDO CD{n10} {PHONE} WA; GameStop@5945|GAMESTOP #{n4} {CITY} {ST}"),
    ("events", "ENTERTAINMENT_SPORTING_EVENTS_AMUSEMENT_PARKS_AND_MUSEUMS", "7922",
     15.0, 320.0, 0.6, "web", False, "Ticketmaster|TM *TICKETMASTER {PHONE} CA|TICKETMASTER "
     "{PHONE} CA; StubHub|STUBHUB INC {PHONE} CA; Live Nation|LIVE NATION {PHONE} CA; "
     "SeatGeek|SEATGEEK TICKETS {PHONE} NY; Six Flags@7996; Museum of Modern Art@7991|MOMA MUSEUM "
     "ADMISSION NEW YORK NY; California Academy of Sciences@7991|CAL ACADEMY OF SCIENCES SAN "
     "FRANCISCO CA; Disneyland Resort@7996|DISNEYLAND RESORT-TICKETS ANAHEIM CA"),
    ("casinos", "ENTERTAINMENT_CASINOS_AND_GAMBLING", "7995", 10.0, 250.0, 0.2, "web", False,
     "DraftKings|DRAFTKINGS {PHONE} MA|DK*DRAFTKINGS BOSTON MA; FanDuel|FANDUEL* SPORTSBOOK "
     "{PHONE} NY; MGM Grand|MGM GRAND HOTEL CASINO LAS VEGAS NV"),
    ("other_ent", "ENTERTAINMENT_OTHER_ENTERTAINMENT", "7999", 10.0, 120.0, 0.5, "pos", False,
     "Eventbrite|EB *{TOK2} {PHONE} CA|EVENTBRITE*{TOK2} SAN FRANCISCO CA; Dave & Buster's; "
     "Topgolf; Bowlero"),
    ("software", "GENERAL_SERVICES_OTHER_GENERAL_SERVICES", "5734", 2.99, 29.99, 5.0, "web", True,
     "Adobe|ADOBE *CREATIVE CLOUD {PHONE} CA|ADOBE *ACROPRO SUBS {PHONE} CA; Microsoft "
     "365|MICROSOFT*MICROSOFT 365 P {PHONE} WA|MSFT * E0{n8} MSBILL.INFO WA; Dropbox|DROPBOX*{a8} "
     "DB.TT/CCHELP CA; Google One|GOOGLE *Google One g.co/helppay#CA; iCloud|APPLE.COM/BILL "
     "866-712-7753 CA; 1Password|1PASSWORD {PHONE} CAN; GitHub|GITHUB, INC. {PHONE} CA|GITHUB "
     "INC. GITHUB.COM CA; OpenAI ChatGPT|OPENAI *CHATGPT SUBSCR OPENAI.COM CA; Notion|NOTION "
     "LABS, INC. {PHONE} CA; Zoom|ZOOM.US {PHONE} CA; Canva|CANVA* {n8} SYDNEY AUS; "
     "NordVPN|NORDVPN.COM {PHONE} PA; Evernote|EVERNOTE {PHONE} CA"),
    ("gyms", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", "7997", 10.0, 240.0, 2.0, "bill", True,
     "Planet Fitness|PLANET FITNESS CLUB FEES {PHONE} NH|PF CLUB FEES {CITY} {ST}; "
     "Equinox|EQUINOX {TOK2} #{n3} {PHONE} NY; 24 Hour Fitness|24 HOUR FITNESS USA,INC {PHONE} "
     "CA; LA Fitness|LA FITNESS {PHONE} CA; Crunch Fitness; ClassPass|CLASSPASS* MONTHLY {PHONE} "
     "NY; Peloton|PELOTON* MEMBERSHIP {PHONE} NY"),
    ("fitness_classes", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", "7997",
     20.0, 45.0, 0.6, "sq", False, "Orangetheory Fitness; SoulCycle|SOULCYCLE {TOK2} {PHONE} NY; "
     "Barry's|BARRYS {CITY} {ST}; CorePower Yoga; Pure Barre"),
    ("electricity", "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY", "4900",
     45.0, 260.0, 10.0, "bill", True, "PG&E|PGANDE WEB ONLINE {n8}|PG&E/EZ-PAY {n10}; Con "
     "Edison|CON ED OF NY INTELL CK {n10}; Southern California Edison|SO CAL EDISON CO {PHONE} "
     "CA; Duke Energy; ComEd|COMED {n10} PAYMENT; Xcel Energy; Georgia Power; Florida Power & "
     "Light|FPL DIRECT DEBIT ELEC PYMT; National Grid; Dominion Energy"),
    ("water", "RENT_AND_UTILITIES_WATER", "4900", 25.0, 120.0, 6.0, "bill", True, "SFPUC "
     "Water|SFPUC WATER SVC {n10}; LADWP|LADWP WEB PAYMENT {n10}; NYC Water Board|NYC WATER BOARD "
     "{n8}; American Water|AMERICAN WATER PAYMENT {n10}"),
    ("waste", "RENT_AND_UTILITIES_SEWAGE_AND_WASTE_MANAGEMENT", "4900",
     20.0, 95.0, 3.0, "bill", True, "Recology|RECOLOGY {TOK2} {PHONE} CA; Waste Management|WM "
     "EZPAY {n10}; Republic Services|REPUBLIC SERVICES {PHONE} AZ"),
    ("internet", "RENT_AND_UTILITIES_INTERNET_AND_CABLE", "4899", 39.99, 129.99, 9.0, "bill", True,
     "Comcast Xfinity|COMCAST CABLE COMM {PHONE} PA|XFINITY MOBILE {PHONE} PA; Spectrum|SPECTRUM "
     "{PHONE} MO|CHARTER COMMUNICATIONS {PHONE} MO; AT&T Internet|ATT*BILL PAYMENT {PHONE} TX; "
     "Verizon Fios|VZ WIRELESS VE FIOS {PHONE} NJ; Cox Communications; Sonic|SONIC.NET {PHONE} "
     "CA; Google Fiber"),
    ("phone", "RENT_AND_UTILITIES_TELEPHONE", "4814", 25.0, 160.0, 9.0, "bill", True, "Verizon "
     "Wireless|VERIZON WRLS P{n4}-{n2} {PHONE} GA|VZWRLSS*APOCC VISB {PHONE} FL; "
     "T-Mobile|T-MOBILE*AUTO PAY {PHONE} WA|TMOBILE*POSTPAID WEB {PHONE} WA; AT&T "
     "Wireless|AT&T*BILL PAYMENT {PHONE} TX; Mint Mobile|MINT MOBILE {PHONE} CA; Google Fi|GOOGLE "
     "*FI {a6} G.CO/HELPPAY# CA; Visible|VISIBLE SERVICE {PHONE} CO"),
    ("insurance", "GENERAL_SERVICES_INSURANCE", "6300", 45.0, 260.0, 7.0, "bill", True,
     "GEICO|GEICO *AUTO {PHONE} DC; State Farm|STATE FARM RO 27 SFPP {n10}; Progressive|PROG "
     "DIRECT INS {PHONE} OH; Allstate|ALLSTATE INS CO {n10}; Lemonade|LEMONADE INC {PHONE} NY; "
     "Liberty Mutual|LIBERTY MUTUAL INS {n10}; USAA|USAA P&C INT AUTOPAY {n10}; Farmers Insurance"),
    ("security", "HOME_IMPROVEMENT_SECURITY", "7393", 15.0, 60.0, 1.0, "bill", True, "ADT "
     "Security|ADT SECURITY*{n9} {PHONE} FL; SimpliSafe|SIMPLISAFE {PHONE} MA; Ring Protect|RING "
     "PROTECT PLAN {PHONE} CA"),
    ("pharmacies", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS", "5912", 4.0, 95.0, 3.0, "pos", False,
     "CVS Pharmacy|CVS/PHARMACY #{n5} {CITY} {ST}|CVS/PHARM {n5}-{TOK2} {CITY} {ST}; "
     "Walgreens|WALGREENS #{n5} {CITY} {ST}|WAG #{n5} {CITY} {ST}; Rite Aid|RITE AID STORE - {n4} "
     "{CITY} {ST}; GNC; The Vitamin Shoppe; Capsule Pharmacy|CAPSULE CORP {PHONE} NY"),
    ("primary_care", "MEDICAL_PRIMARY_CARE", "8011", 25.0, 350.0, 0.4, "svc", False, "One "
     "Medical|ONE MEDICAL GROUP {PHONE} CA; Kaiser Permanente|KAISER PERMANENTE {CITY} {ST}|KP "
     "{TOK2} MED CTR {ST}; MinuteClinic|MINUTECLINIC {n4} {CITY} {ST}; Sutter Health|SUTTER "
     "HEALTH PFS {PHONE} CA; Stanford Health Care"),
    ("dental", "MEDICAL_DENTAL_CARE", "8021", 40.0, 600.0, 0.2, "svc", False, "Aspen Dental; "
     "Western Dental; Bright Now! Dental"),
    ("eye_care", "MEDICAL_EYE_CARE", "8043", 60.0, 400.0, 0.15, "svc", False, "Warby Parker|WARBY "
     "PARKER {PHONE} NY|WARBYPARKER.COM NY; LensCrafters; Pearle Vision"),
    ("veterinary", "MEDICAL_VETERINARY_SERVICES", "0742", 60.0, 700.0, 0.2, "svc", False,
     "Banfield Pet Hospital; VCA Animal Hospitals|VCA {TOK2} ANIMAL HOSP {CITY} {ST}; BluePearl "
     "Pet Hospital"),
    ("other_medical", "MEDICAL_OTHER_MEDICAL", "8071", 20.0, 300.0, 0.3, "svc", False, "Quest "
     "Diagnostics|QUEST DIAGNOSTICS INC {PHONE} NJ; Labcorp|LABCORP {PHONE} NC; Teladoc|TELADOC "
     "HEALTH {PHONE} TX"),
    ("hair_beauty", "PERSONAL_CARE_HAIR_AND_BEAUTY", "7230", 18.0, 140.0, 1.0, "sq", False,
     "Great Clips; Supercuts; Sephora@5977|SEPHORA #{n4} {CITY} {ST}|SEPHORA.COM {PHONE} CA; Ulta "
     "Beauty@5977|ULTA #{n4} {CITY} {ST}; Drybar; European Wax Center"),
    ("laundry", "PERSONAL_CARE_LAUNDRY_AND_DRY_CLEANING", "7211", 8.0, 60.0, 0.6, "sq", False,
     "Rinse|RINSE INC {PHONE} CA; Tide Cleaners; Sunshine Cleaners"),
    ("other_personal", "PERSONAL_CARE_OTHER_PERSONAL_CARE", "7298", 40.0, 160.0, 0.3, "sq", False,
     "Massage Envy|MASSAGE ENVY {TOK2} {CITY} {ST}; Hand & Stone Massage"),
    ("clothing", "GENERAL_MERCHANDISE_CLOTHING_AND_ACCESSORIES", "5651",
     15.0, 220.0, 3.0, "pos", False, "Gap; Old Navy|OLD NAVY US {n4} {CITY} {ST}|OLDNAVY.COM "
     "{PHONE} OH; Uniqlo; H&M|H&M {n4} {CITY} {ST}|H & M {n4}; Zara|ZARA USA {n4} {CITY} {ST}; "
     "Nike|NIKE.COM {PHONE} OR|NIKE FACTORY STORE #{n3}; Adidas; Lululemon|LULULEMON ATHLETICA "
     "{CITY} {ST}|LULULEMON.COM {PHONE} WA; J.Crew; Banana Republic; Levi's; Patagonia; The North "
     "Face; Foot Locker; Madewell; Everlane|EVERLANE {PHONE} CA; Shein|SHEIN.COM {PHONE} CA"),
    ("department", "GENERAL_MERCHANDISE_DEPARTMENT_STORES", "5311", 20.0, 260.0, 1.0, "pos", False,
     "Macy's|MACYS {CITY} {ST}|MACYS .COM {PHONE} OH; Nordstrom|NORDSTROM #{n4} {CITY} {ST}; "
     "Nordstrom Rack; Kohl's|KOHLS #{n4} {CITY} {ST}; JCPenney; Bloomingdale's; Neiman Marcus"),
    ("discount", "GENERAL_MERCHANDISE_DISCOUNT_STORES", "5310", 5.0, 90.0, 1.5, "pos", False,
     "Dollar Tree; Dollar General|DOLLAR-GENERAL #{n5} {CITY} {ST}; Ross Dress for Less|ROSS "
     "STORES #{n4} {CITY} {ST}; TJ Maxx|T J MAXX #{n4} {CITY} {ST}; Marshalls; Five Below; Big "
     "Lots"),
    ("superstores", "GENERAL_MERCHANDISE_SUPERSTORES", "5311", 12.0, 320.0, 5.0, "pos", False,
     "Walmart|WAL-MART #{n4} {CITY} {ST}|WM SUPERCENTER #{n4} {CITY} {ST}|WALMART.COM {PHONE} AR; "
     "Target|TARGET {n8} {CITY} {ST}|TARGET.COM * {PHONE} MN; Costco|COSTCO WHSE #{n4} {CITY} "
     "{ST}|COSTCO *ANNUAL RENEWAL {PHONE} WA; Sam's Club|SAMSCLUB #{n4} {CITY} {ST}; BJ's "
     "Wholesale Club"),
    ("electronics", "GENERAL_MERCHANDISE_ELECTRONICS", "5732", 15.0, 1400.0, 1.0, "pos", False,
     "Best Buy|BEST BUY {n8} {CITY} {ST}|BESTBUY.COM {n12} {PHONE} MN; Apple Store|APPLE STORE "
     "#R{n3} {CITY} {ST}|APPLE.COM/US {PHONE} CA; Micro Center; B&H Photo|B&H PHOTO {PHONE} NY; "
     "Newegg|NEWEGG INC {PHONE} CA; Samsung|SAMSUNG ELECTRONICS {PHONE} NJ"),
    ("marketplaces", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", "5999",
     6.0, 240.0, 6.0, "web", False, "Amazon|AMZN Mktp US*{a9}|AMZN Mktp US*{a3}{n2}{a4} "
     "Amzn.com/billWA|Amazon.com*{a9}|AMAZON.COM*{a9} AMZN.COM/BILLWA|CHECKCARD {MMDD} AMAZON "
     "MKTPLACE PMTS AMZN.COM/BILL WA; eBay|EBAY O*{n2}-{n5}-{n5} {PHONE} CA|PAYPAL *EBAY INC "
     "{n10} CA; Etsy|ETSY.COM - {TOK2} {PHONE} NY|PAYPAL *ETSY {TOK2} {n10} NY; Temu|TEMU.COM "
     "{PHONE} MA; AliExpress|ALIEXPRESS.COM {PHONE} GBR|PAYPAL *ALIPAYUSINC {n10} CA; "
     "Poshmark|POSHMARK {PHONE} CA; Mercari|MERCARI {PHONE} CA"),
    ("bookstores", "GENERAL_MERCHANDISE_BOOKSTORES_AND_NEWSSTANDS", "5942",
     8.0, 70.0, 0.6, "pos", False, "Barnes & Noble|B&N {TOK2} #{n4} {CITY} {ST}|BARNESNOBLE.COM "
     "{PHONE} NY; Powell's Books; Books-A-Million; Half Price Books; Kindle|Kindle Svcs*{a9} "
     "{PHONE} WA"),
    ("gifts", "GENERAL_MERCHANDISE_GIFTS_AND_NOVELTIES", "5947", 8.0, 120.0, 0.4, "pos", False,
     "Hallmark; 1-800-Flowers|1-800-FLOWERS.COM {PHONE} NY; Spencer's; Party City"),
    ("office", "GENERAL_MERCHANDISE_OFFICE_SUPPLIES", "5943", 6.0, 160.0, 0.4, "pos", False,
     "Staples|STAPLES {n8} {CITY} {ST}; Office Depot|OFFICE DEPOT #{n4} {CITY} {ST}; Paper Source"),
    ("pets", "GENERAL_MERCHANDISE_PET_SUPPLIES", "5995", 10.0, 140.0, 1.0, "pos", False,
     "Petco|PETCO {n4} {CITY} {ST}|PETCO.COM {PHONE} CA; PetSmart|PETSMART # {n4} {CITY} {ST}; "
     "Chewy|CHEWY.COM {PHONE} FL|PAYPAL *CHEWY {n10} FL; Pet Supplies Plus; BarkBox|BARKBOX* "
     "{PHONE} NY"),
    ("sporting", "GENERAL_MERCHANDISE_SPORTING_GOODS", "5941", 15.0, 400.0, 0.6, "pos", False,
     "REI|REI #{n2} {TOK2} {CITY} {ST}|REI.COM {PHONE} WA; Dick's Sporting Goods|DICK'S "
     "CLOTHING&SPORTNG {CITY} {ST}; Big 5 Sporting Goods; Academy Sports + Outdoors; Bass Pro "
     "Shops"),
    ("tobacco", "GENERAL_MERCHANDISE_TOBACCO_AND_VAPE", "5993", 8.0, 60.0, 0.2, "pos", False,
     "Smoke Depot; Vapor Lounge"),
    ("other_merch", "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", "5999",
     8.0, 150.0, 0.6, "pos", False, "Michaels|MICHAELS STORES {n4} {CITY} {ST}; Joann Fabrics; "
     "The Container Store; HomeGoods"),
    ("hardware", "HOME_IMPROVEMENT_HARDWARE", "5200", 6.0, 450.0, 1.5, "pos", False, "The Home "
     "Depot|THE HOME DEPOT #{n4} {CITY} {ST}|HOMEDEPOT.COM {PHONE} GA; Lowe's|LOWES #{n5}* {CITY} "
     "{ST}; Ace Hardware@5251|ACE HDWE {TOK2} {CITY} {ST}; True Value@5251; Harbor Freight "
     "Tools@5251; Menards"),
    ("furniture", "HOME_IMPROVEMENT_FURNITURE", "5712", 40.0, 1600.0, 0.4, "pos", False,
     "IKEA|IKEA {TOK2} {CITY} {ST}|IKEA.COM {n10} {PHONE} PA; Wayfair|WAYFAIR*{a9} {PHONE} "
     "MA|WAYFAIR4 {PHONE} MA; Pottery Barn; West Elm; Crate & Barrel; Ashley HomeStore; "
     "Article|ARTICLE.COM {PHONE} BC"),
    ("repair", "HOME_IMPROVEMENT_REPAIR_AND_MAINTENANCE", "7699", 60.0, 600.0, 0.2, "svc", False,
     "Angi|ANGI*{TOK2} {PHONE} CO; TaskRabbit|TASKRABBIT {PHONE} CA; Roto-Rooter; Mr. Handyman"),
    ("other_home", "HOME_IMPROVEMENT_OTHER_HOME_IMPROVEMENT", "5231",
     20.0, 300.0, 0.2, "pos", False, "Sherwin-Williams|SHERWIN WILLIAMS {n6} {CITY} {ST}; LL "
     "Flooring; The Tile Shop"),
    ("automotive", "GENERAL_SERVICES_AUTOMOTIVE", "7538", 25.0, 650.0, 0.6, "pos", False, "Jiffy "
     "Lube; Firestone Complete Auto Care|FIRESTONE #{n5} {CITY} {ST}; Midas; Pep Boys; "
     "AutoZone@5533|AUTOZONE #{n4} {CITY} {ST}; O'Reilly Auto Parts@5533|O'REILLY {n4} {CITY} "
     "{ST}; Discount Tire; Valvoline Instant Oil Change"),
    ("childcare", "GENERAL_SERVICES_CHILDCARE", "8351", 60.0, 900.0, 0.1, "svc", False,
     "KinderCare; Bright Horizons; Care.com|CARE.COM {PHONE} MA"),
    ("education", "GENERAL_SERVICES_EDUCATION", "8299", 10.0, 400.0, 0.3, "web", False,
     "Coursera@8220|COURSERA {PHONE} CA; Udemy|UDEMY: ONLINE COURSES {PHONE} CA; "
     "Duolingo|DUOLINGO {PHONE} PA; MasterClass|MASTERCLASS {PHONE} CA; Chegg|CHEGG ORDER {PHONE} "
     "CA; Kumon"),
    ("legal", "GENERAL_SERVICES_CONSULTING_AND_LEGAL", "8111", 30.0, 500.0, 0.05, "web", False,
     "LegalZoom|LEGALZOOM* {n8} {PHONE} CA; Rocket Lawyer|ROCKETLAWYER {PHONE} CA"),
    ("accounting", "GENERAL_SERVICES_ACCOUNTING_AND_FINANCIAL_PLANNING", "8931",
     30.0, 250.0, 0.05, "web", False, "TurboTax|INTUIT *TURBOTAX {PHONE} CA; H&R Block|H&R BLOCK "
     "{PHONE} MO"),
    ("postage", "GENERAL_SERVICES_POSTAGE_AND_SHIPPING", "9402", 4.0, 80.0, 0.5, "pos", False,
     "USPS|USPS PO {n10} {CITY} {ST}|USPS.COM CLICKNSHIP {PHONE} DC; The UPS Store@4215|THE UPS "
     "STORE {n4} {CITY} {ST}; FedEx Office@4215|FEDEX OFFIC{n5} {CITY} {ST}; "
     "Stamps.com|STAMPS.COM {PHONE} CA"),
    ("storage", "GENERAL_SERVICES_STORAGE", "4225", 45.0, 260.0, 0.05, "bill", False, "Public "
     "Storage|PUBLIC STORAGE {n5} {PHONE} CA; Extra Space Storage; CubeSmart"),
    ("donations", "GOVERNMENT_AND_NON_PROFIT_DONATIONS", "8398", 10.0, 250.0, 0.4, "web", False,
     "American Red Cross|AMERICAN RED CROSS {PHONE} DC; GoFundMe|GOFUNDME {TOK2} {PHONE} "
     "CA|GOFUNDME* {a8} REDWOOD CITY CA; UNICEF USA; Wikimedia Foundation|WIKIMEDIA {PHONE} CA; "
     "Doctors Without Borders|DOCTORS W/O BORDERS {PHONE} NY; ACLU; St. Jude Children's Research "
     "Hospital|ST JUDE CHILDRENS RES {PHONE} TN; KQED Public Media"),
    ("government", "GOVERNMENT_AND_NON_PROFIT_GOVERNMENT_DEPARTMENTS_AND_AGENCIES", "9399",
     15.0, 250.0, 0.2, "gov", False, "California DMV|CA DMV FEE {PHONE} CA|DMV INT {n6} "
     "SACRAMENTO CA; NYC Department of Finance|NYC DOF PARKING {PHONE} NY; U.S. Department of "
     "State|US DEPT OF STATE PASSPORT {PHONE} DC; City of San Francisco|CITY & COUNTY OF SF "
     "{PHONE} CA"),
    ("taxes", "GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT", "9311", 150.0, 3500.0, 0.03, "gov", False,
     "IRS|IRS USATAXPYMT {n15}|US TREASURY TAX PYMT {n10}; California Franchise Tax "
     "Board|FRANCHISE TAX BD PAYMENTS {n10}; NYS Department of Taxation|NYS DTF PIT TAX PAYMT "
     "{n10}"),
)
