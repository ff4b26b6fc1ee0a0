"""What the quality benchmark's videos contain, shot by shot and line by line.

build.py turns this into videos and ground truth; queries.py points into it with anchors
(a video id plus an utterance key, a shot key, a subtitle, a burned-in text, or explicit seconds).
Nothing here is measured: every time in the ground truth follows from these lists.

Video:  V(id, file name, size, category, shots, intro=False, outro=False, audio=True, bgm=None)
Shot:   S(key, seconds, source, subject, motion=..., t0=..., card=..., text=[...], speech=[...])
        source: "skimage:NAME" | "sklearn:FILE" | "opencv:FILE" (photos, panned/zoomed),
                "footage:NAME" (real video from t0 s, NAME in FOOTAGE), "card" (drawn slide/card)
        seconds: the shot's length; a photo or card shot grows (in steps of 0.2 s) when its
                speech needs more room, a footage shot never does.
Text:   T(text, style, promo=False): burned in for the whole shot; styles in build.LAYOUT.
Speech: U(key, source, text_or_id, voice=None, sub=None, music=None)
        source: "en" / "zh" (espeak-ng; zh is spoken from its pinyin), "asterisk" (prompt name),
                "librivox" (utterance id), "cards" (pocketsphinx cards/ id), "goforward"
        sub: True = a burned-in subtitle shows the spoken text while it is said; a string =
             that text instead (a translation, or the book's spelling of a LibriVox line)
        music: a music bed under this line at this speech-to-music ratio in dB (0: the music is
               as loud as the speech; -5: the music is 5 dB louder)
"""
from __future__ import annotations

L = (640, 360)      # landscape
P = (720, 1280)     # portrait (9:16)

EN_US, EN_GB, EN_SC, EN_RP, EN_F = "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us+f3"
ZH_M, ZH_F = "cmn-latn-pinyin", "cmn-latn-pinyin+f3"

# real footage: name -> (where it comes from, Debian package, what it shows)
FOOTAGE = {
    "cockatoo": ("/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4", "python3-imageio",
                 "a white cockatoo preening, handheld"),
    "vtest": ("/usr/share/doc/opencv-doc/examples/data/vtest.avi", "opencv-doc",
              "pedestrians crossing a courtyard, fixed camera"),
    "tree": ("/usr/share/doc/opencv-doc/examples/data/tree.avi", "opencv-doc",
             "a tree moving in the wind, behind a window frame"),
    "box": ("/usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz", "opencv-doc",
            "a hand lifting and turning a yellow printed tin box over a table"),
    "cup": ("/usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz", "opencv-doc",
            "a hand turning a black travel tumbler in front of a white wall"),
}

# the recurring intro and outro (identical in every video that has them)
INTRO = dict(picture="opencv:HappyFish.jpg", title="快乐鱼频道", subtitle="HAPPY FISH TV",
             jingle=dict(file="reno_project-system.wav", start=30.0), seconds=3.0)
OUTRO = dict(lines=[("感谢观看", 0.16, (255, 255, 255)),
                    ("Thanks for watching", 0.085, (255, 230, 160)),
                    ("点赞 关注 不迷路 · Like & follow for more", 0.055, (200, 230, 255))],
             bg_top=(20, 40, 70), bg_bottom=(60, 15, 60),
             jingle=dict(file="macroform-robot_dity.wav", start=20.0), seconds=3.0)


def V(id, name, size, category, shots, intro=False, outro=False, audio=True, bgm=None):
    return dict(id=id, name=name, size=size, category=category, shots=shots, intro=intro,
                outro=outro, audio=audio, bgm=bgm)


def S(key, seconds, source, subject, motion=None, t0=None, card=None, text=(), speech=()):
    return dict(key=key, seconds=seconds, source=source, subject=subject, motion=motion, t0=t0,
                card=card, text=list(text), speech=list(speech))


def T(text, style, promo=False):
    return dict(text=text, style=style, promo=promo)


def U(key, source, text, voice=None, sub=None, music=None):
    return dict(key=key, source=source, text=text, voice=voice, sub=sub, music=music)


def slide(bg_top, bg_bottom, *lines):
    """A drawn card: lines = (text, size relative to the short side, rgb)."""
    return dict(bg_top=bg_top, bg_bottom=bg_bottom, lines=list(lines))


W, Y, G = (255, 255, 255), (255, 214, 120), (200, 220, 255)

VIDEOS = [
    V("fruit", "fresh fruit stall - daily deals.mp4", L, "product / food", intro=True, outro=True, shots=[
        S("platter", 9.0, "opencv:fruits.jpg", "fruit platter: halved oranges, lemons, limes and a kiwi",
          motion=((0.3, 0.4, 1.0), (0.6, 0.5, 1.15)),
          text=[T("新鲜水果拼盘 ¥29.9/份", "price"), T("今日特价", "badge", promo=True)],
          speech=[U("fruit-fresh", "zh", "今天的水果都是早上刚到的，又新鲜又便宜。", ZH_F, sub=True)]),
        S("apple", 9.0, "opencv:apple.jpg", "a single red apple on a table",
          motion=((0.5, 0.2, 1.0), (0.5, 0.6, 1.2)),
          text=[T("红富士苹果 5斤装 ¥39.8 包邮", "price")],
          speech=[U("fruit-apple", "en", "These apples are crisp and sweet, and they were picked this week.",
                    EN_US, sub=True)]),
        S("orange", 9.0, "opencv:orange.jpg", "an orange on a table",
          motion=((0.5, 0.5, 1.25), (0.5, 0.4, 1.0)),
          text=[T("赣南脐橙 买二送一", "price"), T("限时秒杀 点击购买", "badge", promo=True)],
          speech=[U("fruit-orange", "zh", "脐橙买两箱送一箱，活动只到今天晚上。", ZH_M, sub=True, music=0),
                  U("fruit-hurry", "en", "Grab them fast!", EN_F)]),
    ]),

    V("butterfly", "butterfly garden walk.mp4", L, "travel / nature", intro=True,
      bgm=dict(file="macroform-cold_day.wav", start=40.0, dbfs=-40.0), shots=[
        S("butterfly", 9.0, "opencv:butterfly.jpg", "black-and-white swallowtail butterfly on a striped green leaf",
          motion=((0.3, 0.5, 1.0), (0.6, 0.4, 1.3)),
          speech=[U("bf-leaf", "en", "We found a swallowtail butterfly resting on a huge striped leaf.", EN_SC)]),
        S("dahlia", 9.0, "sklearn:flower.jpg", "orange dahlia flower, close-up",
          motion=((0.2, 0.5, 1.3), (0.5, 0.5, 1.6)),
          text=[T("Botanical garden · 植物园", "lower")],
          speech=[U("bf-flower", "zh", "花园里的大丽花开得正好，颜色特别鲜艳。", ZH_F)]),
        S("squirrel", 9.0, "opencv:squirrel_cls.jpg", "red squirrel eating on a tree branch",
          motion=((0.2, 0.6, 1.1), (0.4, 0.5, 1.4)),
          speech=[U("bf-squirrel", "en", "Oh look, a squirrel!", EN_SC),
                  U("bf-nut", "zh", "它抱着一颗坚果吃得正香。", ZH_M)]),
    ]),

    V("cctv", "security camera - courtyard.mp4", L, "UGC / surveillance", audio=False, shots=[
        S("cam1", 10.0, "footage:vtest", "people walking across a paved courtyard, seen from above", t0=1.0,
          text=[T("CAM 03  NORTH COURTYARD", "osd")]),
        S("cam2", 10.0, "footage:vtest", "people walking across a paved courtyard, seen from above", t0=30.0,
          text=[T("CAM 03  NORTH COURTYARD", "osd")]),
        S("cam3", 10.0, "footage:vtest", "people walking across a paved courtyard, seen from above", t0=60.0,
          text=[T("CAM 03  NORTH COURTYARD", "osd")]),
    ]),

    V("pets", "萌宠日常 猫和狗.mp4", P, "pets", intro=True, outro=True, shots=[
        S("dog", 9.0, "opencv:chicky_512.png", "small long-haired dog with its mouth open",
          motion=((0.5, 0.3, 1.0), (0.5, 0.5, 1.25)),
          text=[T("萌宠日常", "top")],
          speech=[U("pet-walk", "zh", "我家狗狗一听到出去散步，就开心得不得了。", ZH_F, sub=True)]),
        S("cat", 10.0, "skimage:chelsea", "tabby cat, close-up of its face",
          motion=((0.4, 0.5, 1.0), (0.6, 0.4, 1.3)),
          text=[T("萌宠日常", "top")],
          speech=[U("pet-cat-short", "zh", "小猫又在发呆。", ZH_F, sub=True),
                  U("pet-mimi", "en", "This is Mimi, she only wakes up for dinner.", EN_F,
                    sub="这是咪咪，她只有吃饭的时候才醒")]),
    ]),

    V("pcb", "PCB design lecture 01.mp4", L, "lecture", intro=True, outro=True, shots=[
        S("title", 8.0, "card", "lecture title slide",
          card=slide((18, 40, 90), (6, 12, 35), ("Lecture 1: Printed Circuit Boards", 0.075, W),
                     ("印刷电路板设计入门", 0.09, Y), ("Prof. Lin · Spring term", 0.05, G)),
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.06)),
          speech=[U("pcb-welcome", "en", "Welcome to the first lecture on printed circuit board design.", EN_US)]),
        S("board", 12.0, "opencv:board.jpg", "green circuit board with chips, capacitors and pin headers",
          motion=((0.0, 0.2, 1.2), (1.0, 0.8, 1.5)),
          speech=[U("pcb-traces", "en", "Thin copper traces carry the signals from one chip to the next.", EN_US),
                  U("pcb-mcu", "en", "The large square chip at the bottom is the microcontroller.", EN_US)]),
        S("rules", 10.0, "card", "lecture slide with three routing rules",
          card=slide((245, 245, 240), (215, 220, 230), ("Three routing rules", 0.085, (20, 40, 110)),
                     ("1. Keep traces short", 0.06, (30, 30, 30)),
                     ("2. No sharp right-angle corners", 0.06, (30, 30, 30)),
                     ("3. Separate power and signal", 0.06, (30, 30, 30))),
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.05)),
          speech=[U("pcb-rules", "zh", "走线要尽量短，拐角不要做成直角。", ZH_M),
                  U("pcb-homework", "en", "For homework, sketch a board with two layers.", EN_US)]),
    ]),

    V("art", "Starry Night art talk.mp4", L, "lecture / art", intro=True, shots=[
        S("sky", 10.0, "opencv:starry_night.jpg", "Van Gogh's The Starry Night: swirling night sky over a village",
          motion=((0.0, 0.2, 1.3), (1.0, 0.3, 1.3)),
          text=[T("ART 101 · Post-Impressionism", "lower")],
          speech=[U("art-sky", "en", "Van Gogh painted this swirling night sky in 1889, from his window at the asylum.",
                    EN_RP, sub="梵高在一八八九年从疗养院的窗口画下了这片夜空")]),
        S("cypress", 9.0, "opencv:starry_night.jpg", "dark cypress tree in The Starry Night, close-up",
          motion=((0.0, 0.5, 2.2), (0.05, 0.4, 2.6)),
          speech=[U("art-cypress", "zh", "左边那棵深色的柏树，像火焰一样往上窜。", ZH_M, sub=True)]),
        S("graffiti", 10.0, "opencv:graf1.png", "colourful graffiti mural on a wall",
          motion=((0.3, 0.3, 1.2), (0.7, 0.6, 1.4)),
          speech=[U("art-street", "en", "Street artists still borrow his bold outlines and bright colours.", EN_RP),
                  U("art-question", "en", "Any questions so far?", EN_RP)]),
    ]),

    V("book", "audiobook Sense and Sensibility ch1.mp4", L, "audiobook / lecture", outro=True, shots=[
        S("cover", 5.0, "card", "audiobook cover card",
          card=slide((90, 30, 30), (30, 8, 8), ("Sense and Sensibility", 0.11, W),
                     ("Jane Austen · Chapter 1", 0.065, Y), ("有声书 第一章", 0.07, G)),
          motion=((0.5, 0.5, 1.08), (0.5, 0.5, 1.0))),
        S("lane", 11.0, "opencv:leuvenA.jpg", "old brick houses along a cobbled lane",
          motion=((0.2, 0.5, 1.0), (0.6, 0.5, 1.2)),
          speech=[U("book-0870", "librivox", "sense_and_sensibility_01_austen_64kb-0870", music=0,
                    sub="And Mr. John Dashwood had then leisure to consider how much there might be "
                        "prudently in his power to do for them.")]),
        S("palace", 12.0, "opencv:home.jpg", "ornate yellow palace under a blue sky with birds",
          motion=((0.5, 0.0, 1.0), (0.5, 0.6, 1.25)),
          speech=[U("book-0880", "librivox", "sense_and_sensibility_01_austen_64kb-0880",
                    sub="He was not an ill-disposed young man,"),
                  U("book-0890", "librivox", "sense_and_sensibility_01_austen_64kb-0890", music=-5,
                    sub="unless to be rather cold-hearted and rather selfish is to be ill-disposed.")]),
        S("hotel", 12.0, "opencv:building.jpg", "modern white multi-storey building with a lawn in front",
          motion=((0.0, 0.5, 1.1), (1.0, 0.5, 1.1)),
          speech=[U("book-0920", "librivox", "sense_and_sensibility_01_austen_64kb-0920",
                    sub="Had he married a more amiable woman, he might have been made still more "
                        "respectable than he was;"),
                  U("book-0930", "librivox", "sense_and_sensibility_01_austen_64kb-0930",
                    sub="he might even have been made amiable himself.")]),
    ]),

    V("aerial", "aerial city tour day 2.mp4", L, "travel", intro=True, outro=True, shots=[
        S("town", 10.0, "opencv:aero1.jpg", "aerial view of a town with a river and lakes",
          motion=((0.2, 0.3, 1.0), (0.7, 0.6, 1.3)),
          text=[T("Day 2 · 海边小城", "top")],
          speech=[U("air-town", "en", "From the plane you can see the whole town spread out along the river.", EN_US)]),
        S("coast", 9.0, "opencv:aero3.jpg", "aerial view of a coastal city next to the sea",
          motion=((0.5, 0.8, 1.3), (0.5, 0.2, 1.1)),
          speech=[U("air-coast", "zh", "再往前飞一会儿，就能看到长长的海岸线了。", ZH_F, sub=True)]),
        S("pagoda", 12.0, "sklearn:china.jpg", "pagoda on a wooded hill above a lake",
          motion=((0.3, 0.4, 1.1), (0.6, 0.5, 1.35)),
          speech=[U("air-pagoda", "zh", "傍晚我们去湖边的古塔散步，人不多，很安静。", ZH_M, sub=True),
                  U("air-tickets", "en", "Tickets for the tower were only five dollars.", EN_US)]),
    ]),

    V("cockatoo", "cockatoo at the bird park.mp4", L, "pets / animals", intro=True, outro=True, shots=[
        S("bird1", 7.0, "footage:cockatoo", "white cockatoo preening its feathers", t0=0.5,
          speech=[U("bird-preen", "zh", "这只凤头鹦鹉一直在整理羽毛。", ZH_F, sub=True)]),
        S("mandrill", 9.0, "opencv:baboon.jpg", "mandrill face with a red nose and blue cheeks",
          motion=((0.5, 0.2, 1.3), (0.5, 0.6, 1.0)),
          speech=[U("bird-mandrill", "en", "Next door lives a mandrill with a bright red and blue face.", EN_F)]),
        S("bird2", 6.0, "footage:cockatoo", "white cockatoo with a yellow crest, close-up", t0=7.6,
          speech=[U("bird-bye", "en", "Bye bye, birdie!", EN_F)]),
    ]),

    V("coffee", "morning coffee vlog.mp4", P, "vlog",
      bgm=dict(file="manolo_camp-morning_coffee.wav", start=40.0, dbfs=-40.0), shots=[
        S("catwake", 8.0, "skimage:chelsea", "tabby cat looking at the camera",
          motion=((0.7, 0.3, 1.1), (0.3, 0.5, 1.0)),
          text=[T("早安打卡 Day 15", "top")],
          speech=[U("cof-cat", "en", "My cat woke me up at six again.", EN_GB, sub=True)]),
        S("latte", 9.0, "skimage:coffee", "cup of coffee on a saucer with a spoon",
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.3)),
          text=[T("早安打卡 Day 15", "top")],
          speech=[U("cof-latte", "zh", "楼下这家咖啡店的拿铁，是我每天的动力。", ZH_F, sub=True)]),
        S("candy", 7.0, "opencv:smarties.png", "colourful candy-coated chocolates on a white table",
          motion=((0.3, 0.5, 1.0), (0.7, 0.5, 1.2)),
          text=[T("早安打卡 Day 15", "top")],
          speech=[U("cof-candy", "en", "Candy for later.", EN_GB, sub=True)]),
    ]),

    V("tin", "gift tin unboxing.mp4", L, "product / unboxing", outro=True, shots=[
        S("product", 7.0, "card", "product card for a vintage biscuit tin",
          card=slide((200, 120, 30), (110, 40, 10), ("复古铁皮饼干盒", 0.13, W), ("¥58 包邮", 0.11, (255, 240, 120)),
                     ("Vintage biscuit tin", 0.065, (255, 225, 200))),
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.08)),
          speech=[U("tin-open", "zh", "今天来开箱一个复古铁皮饼干盒。", ZH_M)]),
        S("lift", 10.0, "footage:box", "hand lifting a yellow tin box with a painted landscape above a table",
          t0=0.5,
          speech=[U("tin-lid", "en", "The lid has a tiny painted landscape, like an old postcard.", EN_US),
                  U("tin-heavy", "en", "Pretty heavy, actually.", EN_US)]),
        S("toys", 9.0, "opencv:rubberwhale1.png", "toy whale, wooden pieces and shells on striped cloth",
          motion=((0.2, 0.5, 1.1), (0.6, 0.5, 1.3)),
          speech=[U("tin-inside", "en", "Inside I found a toy whale and some wooden letters.", EN_F)]),
    ]),

    V("tumbler", "insulated tumbler review.mp4", P, "product review", intro=True, shots=[
        S("hold", 7.4, "footage:cup", "hand turning a black travel tumbler", t0=0.4,
          text=[T("保温杯测评", "top"), T("不锈钢保温杯 ¥89 第二件半价", "price")],
          speech=[U("cup-keep", "zh", "这个杯子能保温十二个小时。", ZH_F, sub=True)]),
        S("specs", 11.0, "card", "spec card for the tumbler",
          card=slide((30, 30, 30), (70, 70, 80), ("500 ml · 12 h hot / 24 h cold", 0.065, W),
                     ("Leak-proof lid", 0.065, Y), ("推荐指数 ★★★★☆", 0.075, (255, 200, 60))),
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.05)),
          speech=[U("cup-lid", "en", "The lid twists off with one hand and it never leaks.", EN_GB, sub=True),
                  U("cup-buy", "en", "Would buy again.", EN_GB, sub=True)]),
    ]),

    V("space", "space news roundup.mp4", L, "news / science", intro=True, outro=True, shots=[
        S("rocket", 9.0, "skimage:rocket", "rocket on the launch pad at dusk",
          motion=((0.5, 0.8, 1.4), (0.5, 0.3, 1.1)),
          text=[T("航天新闻 Space News", "top"), T("BREAKING · Rocket launch tonight", "lower")],
          speech=[U("sp-launch", "en", "Tonight's launch lifted off right on time from the coastal pad.", EN_US)]),
        S("moon", 8.0, "skimage:moon", "grey cratered surface of the moon",
          motion=((0.3, 0.3, 1.1), (0.7, 0.7, 1.3)),
          text=[T("航天新闻 Space News", "top")],
          speech=[U("sp-craters", "zh", "月球表面布满了大大小小的陨石坑。", ZH_M, sub=True)]),
        S("deep", 9.0, "skimage:hubble_deep_field", "deep field full of distant galaxies",
          motion=((0.2, 0.2, 1.5), (0.7, 0.6, 2.0)),
          text=[T("航天新闻 Space News", "top")],
          speech=[U("sp-galaxies", "en", "Almost every dot of light in this picture is a whole galaxy.", EN_US,
                    music=-5)]),
        S("astro", 8.0, "skimage:astronaut", "NASA astronaut in an orange flight suit in front of a flag",
          motion=((0.5, 0.0, 1.1), (0.5, 0.4, 1.35)),
          text=[T("航天新闻 Space News", "top")],
          speech=[U("sp-astro", "zh", "这位宇航员曾经四次飞上太空。", ZH_F, sub=True)]),
    ]),

    V("cards", "card trick tutorial.mp4", L, "UGC / tutorial", outro=True, shots=[
        S("spread", 9.0, "opencv:cards.png", "playing cards (diamonds) scattered on a white table",
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.2)),
          text=[T("Magic tutorial 魔术教学", "top")],
          speech=[U("cards-005", "cards", "005", sub="Eight of spades, four of clubs, seven of hearts")]),
        S("pick", 8.0, "opencv:cards.png", "close-up of diamond playing cards",
          motion=((0.2, 0.2, 2.0), (0.5, 0.4, 2.2)),
          speech=[U("cards-001", "cards", "001"), U("cards-004", "cards", "004")]),
        S("desk", 10.0, "opencv:stuff.jpg", "desk top with a pen, a lighter, a coin and a bottle cap",
          motion=((0.3, 0.3, 1.1), (0.6, 0.6, 1.3)),
          speech=[U("cards-coin", "en", "Now hide the coin under the cap and tap it twice.", EN_SC, sub=True)]),
    ]),

    V("hold", "on hold with customer service.mp4", L, "UGC / comedy", shots=[
        S("title", 5.0, "card", "meme title card",
          card=slide((250, 250, 250), (225, 225, 225), ("打客服电话的我", 0.13, (20, 20, 20)),
                     ("Day 3 on hold...", 0.07, (90, 90, 90))),
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.04))),
        S("clock", 10.0, "skimage:clock", "blurry wall clock (grayscale)",
          motion=((0.4, 0.5, 1.0), (0.6, 0.5, 1.2)),
          text=[T("又是这段音乐……", "lower")],
          speech=[U("hold-busy", "asterisk", "queue-periodic-announce", music=0)]),
        S("wall", 12.0, "skimage:brick", "brick wall (grayscale)",
          motion=((0.2, 0.5, 1.2), (0.8, 0.5, 1.2)),
          speech=[U("hold-household", "asterisk", "tt-allbusy"),
                  U("hold-moment", "asterisk", "one-moment-please")]),
        S("finally", 7.0, "card", "meme card: finally connected?",
          card=slide((20, 20, 20), (50, 20, 20), ("终于要接通了？", 0.12, W), ("Finally?", 0.08, Y)),
          motion=((0.5, 0.5, 1.05), (0.5, 0.5, 1.0)),
          speech=[U("hold-leader", "asterisk", "confbridge-begin-glorious-a")]),
    ]),

    V("robot", "voice control robot kit.mp4", L, "product", intro=True, outro=True, shots=[
        S("board2", 9.0, "opencv:board.jpg", "green circuit board, close-up of the chips",
          motion=((0.8, 0.2, 2.0), (0.5, 0.3, 2.3)),
          text=[T("语音控制小车套件 ¥199", "price"), T("新品首发", "badge", promo=True)],
          speech=[U("rb-voice", "zh", "这套小车支持语音控制，说一句话它就会动。", ZH_M, sub=True)]),
        S("blocks", 8.0, "opencv:blox.jpg", "grey toy building blocks of different shapes",
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.3)),
          speech=[U("rb-go", "goforward", "", sub="Go forward ten meters")]),
        S("kids", 8.0, "card", "product card: ages 8+, STEM",
          card=slide((0, 110, 140), (0, 40, 70), ("Ages 8+ · STEM", 0.1, W), ("编程启蒙 从玩开始", 0.09, Y)),
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.06)),
          speech=[U("rb-kids", "en", "Kids can program it with simple blocks on a tablet.", EN_US)]),
    ]),

    V("window", "window view - windy day.mp4", L, "UGC", audio=False, shots=[
        S("tree1", 12.0, "footage:tree", "tree swaying in the wind, seen through a window", t0=0.5,
          text=[T("窗外的大风天", "lower")]),
        S("tree2", 12.0, "footage:tree", "tree swaying in the wind, seen through a window", t0=13.5,
          text=[T("Windy afternoon at home", "lower")]),
    ]),

    V("imgproc", "image processing class week 4.mp4", L, "lecture", intro=True, shots=[
        S("slide", 8.0, "card", "lecture title slide: image processing, week 4",
          card=slide((10, 60, 50), (5, 25, 20), ("Image Processing · Week 4", 0.08, W),
                     ("图像分割 Segmentation", 0.09, Y)),
          motion=((0.5, 0.5, 1.0), (0.5, 0.5, 1.06)),
          speech=[U("ip-intro", "en", "This week we look at how to split a picture into regions.", EN_GB)]),
        S("page", 9.0, "skimage:page", "textbook page titled Region-based segmentation",
          motion=((0.0, 0.0, 1.0), (0.0, 0.5, 1.1)),
          speech=[U("ip-markers", "en", "First we mark the coins and the background with two different labels.",
                    EN_GB)]),
        S("coins", 8.0, "skimage:coins", "ancient coins on a dark background (grayscale)",
          motion=((0.2, 0.2, 1.4), (0.8, 0.8, 1.4)),
          speech=[U("ip-contrast", "zh", "硬币和背景的灰度差别很大，所以很容易分开。", ZH_M)]),
        S("retina", 10.0, "skimage:retina", "photo of the back of the eye showing its blood vessels",
          motion=((0.5, 0.5, 1.0), (0.4, 0.5, 1.4)),
          speech=[U("ip-vessels", "en", "The same idea helps doctors trace the blood vessels in the eye.", EN_GB),
                  U("ip-done", "zh", "今天就讲到这里。", ZH_F)]),
    ]),
]


# --------------------------------------------------------------------------- altered clips
# (video id, shot key, offset into the shot in s, length in s, alteration): cut from shots whose
# picture appears in no other video, so a clip has exactly one right source.
CLIPS = [
    ("fruit", "platter", 1.5, 5.0, "reencode"),
    ("fruit", "orange", 2.0, 6.0, "cropped+muted"),
    ("butterfly", "butterfly", 1.0, 6.0, "scaled"),
    ("butterfly", "squirrel", 2.0, 5.0, "reencode+scaled"),
    ("fruit", "apple", 2.0, 5.0, "cropped"),
    ("pets", "dog", 1.0, 6.0, "reencode+muted"),
    ("pcb", "rules", 1.5, 5.0, "scaled+cropped"),
    ("book", "lane", 2.0, 6.0, "muted"),
    ("art", "graffiti", 1.0, 7.0, "reencode+scaled+cropped+muted"),
    ("book", "palace", 3.0, 6.0, "reencode"),
    ("aerial", "town", 1.0, 5.0, "cropped"),
    ("aerial", "pagoda", 4.0, 6.0, "scaled+muted"),
    ("cockatoo", "bird1", 1.0, 5.0, "reencode+cropped"),
    ("cockatoo", "mandrill", 2.0, 5.0, "scaled"),
    ("coffee", "latte", 1.0, 6.0, "cropped+muted"),
    ("tin", "lift", 1.0, 7.0, "reencode"),
    ("tumbler", "hold", 0.5, 6.0, "scaled+cropped"),
    ("space", "rocket", 1.0, 6.0, "reencode+muted"),
    ("space", "deep", 2.0, 5.0, "cropped"),
    ("cards", "desk", 2.0, 6.0, "scaled"),
    ("hold", "clock", 2.0, 5.0, "reencode+scaled"),
    ("robot", "blocks", 1.0, 6.0, "muted"),
    ("tin", "toys", 2.0, 5.0, "reencode+cropped"),
    ("imgproc", "retina", 2.0, 6.0, "scaled+cropped+muted"),
]


# --------------------------------------------------------------------------- captions corpus
# Product / post copy for the clips' shots, written by hand in the style of Taobao/Douyin titles
# and English shop listings (emoji, "点击购买👉", "BUY NOW" noise included).  (video, shot) -> captions;
# a clip lists the ids of its shot's captions.
C = dict   # id, text and optional extra fields (category, price)
CAPTIONS = {
    ("fruit", "platter"): [
        C(id="fruit-001", text="🍊新鲜水果拼盘 橙子柠檬青柠猕猴桃 当天现切 点击购买👉", category="food", price=29.9),
        C(id="fruit-002", text="Fresh fruit platter - oranges, lemons, limes & kiwi, cut today!! BUY NOW", category="food"),
        C(id="fruit-003", text="水果切盘 维C满满 办公室下午茶必备", category="food")],
    ("fruit", "apple"): [
        C(id="fruit-004", text="红富士苹果 5斤装 脆甜多汁 产地直发 包邮🍎", category="food", price=39.8),
        C(id="fruit-005", text="Crisp red apples, 5 lb box, picked this week ★ free shipping ★", category="food")],
    ("fruit", "orange"): [
        C(id="fruit-006", text="赣南脐橙 买二送一🔥限时秒杀 手慢无", category="food", price=45.0),
        C(id="fruit-007", text="Navel oranges - buy 2 get 1 free! juicy & sweet 🍊 link in bio", category="food")],
    ("butterfly", "butterfly"): [
        C(id="nature-001", text="蝴蝶停在大叶子上 黑白花纹超好看 #自然 #微距摄影", category="nature"),
        C(id="nature-002", text="Swallowtail butterfly resting on a striped leaf 🦋 macro shot", category="nature")],
    ("butterfly", "squirrel"): [
        C(id="nature-003", text="小松鼠抱着坚果啃 太可爱了太可爱了🐿️", category="nature"),
        C(id="nature-004", text="Red squirrel snacking on a branch - follow for more wildlife!", category="nature"),
        C(id="nature-005", text="公园偶遇松鼠 萌化了", category="nature")],
    ("pets", "dog"): [
        C(id="pet-001", text="狗狗听到出去玩就开心 张嘴笑的样子太治愈了🐶 关注我", category="pets"),
        C(id="pet-002", text="Happy little fluffy dog smiling at the camera 🐕 #dogsofinstagram", category="pets")],
    ("pcb", "rules"): [
        C(id="edu-001", text="PCB布线三原则 走线短 不走直角 电源信号分开 电子工程入门", category="education"),
        C(id="edu-002", text="Three PCB routing rules every beginner should know (lecture slide)", category="education")],
    ("book", "lane"): [
        C(id="travel-001", text="欧洲小镇石板路 红砖老房子 随手一拍都是明信片", category="travel"),
        C(id="travel-002", text="Cobbled lane with old brick houses ★ European old town walk ★", category="travel")],
    ("art", "graffiti"): [
        C(id="art-001", text="街头涂鸦墙 色彩太炸了 城市街拍打卡点📸", category="art"),
        C(id="art-002", text="Colourful street graffiti mural - urban art tour, link in bio", category="art")],
    ("book", "palace"): [
        C(id="travel-003", text="黄色宫殿 蓝天白云 鸟儿飞过 旅行随拍", category="travel"),
        C(id="travel-004", text="Ornate yellow palace under a bright blue sky ✈️ travel diary", category="travel")],
    ("aerial", "town"): [
        C(id="travel-005", text="飞机上俯瞰小城 河流湖泊一览无余 靠窗座位yyds", category="travel"),
        C(id="travel-006", text="Aerial view of a river town from the plane window 🛫", category="travel")],
    ("aerial", "pagoda"): [
        C(id="travel-007", text="湖边古塔 傍晚散步超安静 小众景点推荐", category="travel"),
        C(id="travel-008", text="Pagoda on the hill above the lake - hidden gem, tickets only $5!", category="travel")],
    ("cockatoo", "bird1"): [
        C(id="pet-003", text="凤头鹦鹉梳理羽毛 白色大鸟好漂亮 #鸟类 #动物园", category="pets"),
        C(id="pet-004", text="White cockatoo preening its feathers at the bird park 🦜", category="pets")],
    ("cockatoo", "mandrill"): [
        C(id="pet-005", text="山魈的脸红红蓝蓝 像画了妆一样 动物园必看", category="pets"),
        C(id="pet-006", text="Mandrill with a red nose & blue cheeks - wildlife close-up", category="pets")],
    ("coffee", "latte"): [
        C(id="food-001", text="☕早安咖啡 楼下咖啡店的拿铁 每日打卡", category="food", price=18.0),
        C(id="food-002", text="Morning latte from my favourite café ☕ vlog day 15", category="food"),
        C(id="food-003", text="Coffee cup & saucer 🔥 café aesthetic ★ BUY NOW ★ ceramic set", category="home", price=24.99)],
    ("tin", "lift"): [
        C(id="shop-001", text="复古铁皮饼干盒 手绘风景图案 收纳礼盒 点击购买👉", category="home", price=58.0),
        C(id="shop-002", text="Vintage biscuit tin with painted landscape lid - gift box, free shipping", category="home")],
    ("tin", "toys"): [
        C(id="shop-003", text="木头玩具 小鲸鱼 贝壳 童年回忆杀 开箱", category="toys"),
        C(id="shop-004", text="Toy whale, wooden letters and seashells - what's in the box?", category="toys")],
    ("tumbler", "hold"): [
        C(id="shop-005", text="不锈钢保温杯 500ml 保温12小时 第二件半价🔥", category="kitchen", price=89.0),
        C(id="shop-006", text="Black insulated travel tumbler, leak-proof lid!!! BUY NOW", category="kitchen", price=19.99)],
    ("space", "rocket"): [
        C(id="sci-001", text="火箭发射台 夜色中整装待发🚀 航天迷必看", category="science"),
        C(id="sci-002", text="Rocket on the launch pad at dusk - launch tonight! follow for updates", category="science")],
    ("space", "deep"): [
        C(id="sci-003", text="哈勃深空场 每个光点都是一个星系 宇宙太大了", category="science"),
        C(id="sci-004", text="Hubble deep field poster ★ thousands of galaxies ★ link in bio", category="science", price=15.0)],
    ("cards", "desk"): [
        C(id="ugc-001", text="桌面小魔术 硬币藏在瓶盖下 一学就会", category="entertainment"),
        C(id="ugc-002", text="Coin under the cap trick - easy desk magic tutorial", category="entertainment")],
    ("hold", "clock"): [
        C(id="ugc-003", text="打客服电话等了一个小时 墙上的钟都看腻了😂", category="entertainment"),
        C(id="ugc-004", text="POV: on hold with customer service forever (clock edition)", category="entertainment")],
    ("robot", "blocks"): [
        C(id="shop-007", text="积木玩具 各种形状 益智拼搭 儿童编程启蒙", category="toys", price=35.0),
        C(id="shop-008", text="Grey building blocks set - shapes for STEM play, BUY NOW", category="toys")],
    ("imgproc", "retina"): [
        C(id="edu-003", text="眼底照片 血管清晰可见 医学影像科普", category="education"),
        C(id="edu-004", text="Retina fundus photo showing blood vessels - medical imaging class", category="education")],
}

# Captions about nothing in the library; some are near misses (same category or a close subject).
DISTRACTORS = [
    C(id="dx-001", text="新款运动鞋 透气跑步鞋 男女同款 点击购买👉", category="fashion", price=199.0),
    C(id="dx-002", text="Matte red lipstick, long-lasting ★ 50% OFF ★", category="beauty", price=12.5),
    C(id="dx-003", text="手机壳 防摔 透明 适用多款机型", category="electronics", price=19.9),
    C(id="dx-004", text="Chef's kitchen knife, 8 inch stainless steel - BUY NOW", category="kitchen", price=39.0),
    C(id="dx-005", text="瑜伽垫 加厚防滑 家用健身", category="sports", price=69.0),
    C(id="dx-006", text="香蕉 海南新鲜香蕉 10斤装 包邮🍌", category="food", price=32.0),
    C(id="dx-007", text="Dog food 15 lb bag, chicken & rice formula", category="pets", price=42.0),
    C(id="dx-008", text="珍珠奶茶 全糖去冰 第二杯半价", category="food", price=16.0),
    C(id="dx-009", text="Parrot cage, large, with perches and feeders 🦜", category="pets", price=89.0),
    C(id="dx-010", text="儿童平衡车 两轮 无脚踏", category="toys", price=299.0),
    C(id="dx-011", text="Glass teapot with infuser, 1 litre - link in bio", category="kitchen", price=22.0),
    C(id="dx-012", text="复古胶片相机 135 傻瓜机 收藏", category="electronics", price=450.0),
    C(id="dx-013", text="Telescope for kids, 70 mm refractor - see the craters of the moon!", category="science",
      price=79.0),
    C(id="dx-014", text="数独练习册 从入门到精通", category="education", price=25.0),
    C(id="dx-015", text="Snorkel set, anti-fog mask - beach holiday essentials", category="sports", price=29.0),
    C(id="dx-016", text="油画颜料套装 24色 初学者", category="art", price=58.0),
    C(id="dx-017", text="Skateboard deck with graffiti print, 31 inch", category="sports", price=55.0),
]
